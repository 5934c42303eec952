"""Parameter counts of the real configs, built on the meta device (no weights, no memory)."""

from __future__ import annotations

import torch

from flashmotion.configs import WAN22_TI2V_5B
from flashmotion.model import build_transformer, count_parameters, meta_parameter_counts


def test_backbone_matches_wan22_ti2v_5b():
    with torch.device("meta"):
        model = build_transformer(WAN22_TI2V_5B)
    total = count_parameters(model)
    block = count_parameters(model.blocks[0])
    # REFERENCE section 3: 4.9998B parameters, one block 163.66M.
    assert round(total / 1e9, 4) == 4.9998
    assert round(block / 1e6, 2) == 163.66
    assert len(model.blocks) == 30 and model.config.num_attention_heads * model.config.attention_head_dim == 3072


def test_adapter_totals_match_the_paper():
    counts = meta_parameter_counts(WAN22_TI2V_5B)
    resnet_total = counts["transformer"] + counts["resnet"]
    controlnet_total = counts["transformer"] + counts["controlnet"]
    # Paper, Table 6: 5.02B (ResNet) and 10.28B (ControlNet), backbone included.
    assert round(resnet_total / 1e9, 2) == 5.02
    assert round(controlnet_total / 1e9, 2) == 10.28
    # ControlNet = backbone minus its output head, plus 30 zero Linear(3072, 3072) and the
    # 48 extra patch-embedding input channels.
    d = 3072
    head = d * 48 * 4 + 48 * 4 + 2 * d  # proj_out + its bias + scale_shift_table
    extra = 30 * (d * d + d) + 48 * d * 4
    assert counts["controlnet"] == counts["transformer"] - head + extra


def test_describe_reports_real_counts_without_weights():
    from flashmotion import generators

    counts = meta_parameter_counts(WAN22_TI2V_5B)
    info = generators.flashmotion_controlnet.describe()
    assert info.parameters == counts["transformer"] + counts["controlnet"]
    assert info.nfe == 4 and info.native_size == (704, 1280) and info.max_frames == 121
    slow = generators.wan_resnet_50step.describe()
    assert slow.parameters == counts["transformer"] + counts["resnet"]
    assert slow.nfe == 100  # 50 steps x 2 CFG branches


def test_memory_estimate_at_paper_size():
    from flashmotion.memory import estimate, tokens

    assert tokens(WAN22_TI2V_5B, 121, 704, 1280) == 31 * 22 * 40
    counts = meta_parameter_counts(WAN22_TI2V_5B)
    base = estimate(WAN22_TI2V_5B, counts, None, 121, 704, 1280)
    cn = estimate(WAN22_TI2V_5B, counts, "controlnet", 121, 704, 1280)
    assert base["weights_backbone"] == 2 * counts["transformer"]
    assert cn["total"] - base["total"] == 2 * counts["controlnet"] + cn["modulation"] / 2 + cn["adapter_state"]
