"""Map styles: `magicmotion` reproduces supervision 0.23's MaskAnnotator maps; styles are recorded."""

from __future__ import annotations

import numpy as np
import pytest

from flashbench.data.schema import Annotation, ObjectTrack
from flashbench.data.trajectory import DEFAULT_MAP_STYLE, MAP_STYLES, box_thickness, from_annotation, render_maps
from flashbench.generators.base import GenerationRequest
from flashbench.protocol import DEFAULT, Protocol

H, W, T = 480, 832, 4  # MagicMotion's map size: outlines 4 px thick


def _objects(h=H, w=W, t_count=T, count=3):
    """``count`` objects moving right; object 0 is small and lies inside the large object 1."""
    masks = np.zeros((count, t_count, h, w), bool)
    for t in range(t_count):
        masks[0, t, 100:160, 100 + 10 * t : 200 + 10 * t] = True  # inside object 1 everywhere
        if count > 1:
            masks[1, t, 40:300, 40 + 10 * t : 400 + 10 * t] = True
        for k in range(2, count):
            y = 320 + 12 * (k - 2) % 140
            masks[k, t, y : y + 10, 450 + 15 * (k - 2) + 5 * t : 460 + 15 * (k - 2) + 5 * t] = True
    return Annotation("v", t_count, h, w, tuple(ObjectTrack.from_masks(k, f"o{k}", masks[k]) for k in range(count))), masks


def test_magicmotion_colours_are_supervision_default_palette_at_half_opacity():
    st = MAP_STYLES["magicmotion"]
    # object index 0 is supervision object id 1 (FF4040), index 1 is id 2 (FFA1A0), index 2 is id 3 (FF7633);
    # index 20 wraps to id 21 % 21 = 0 (A351FB). Halves round half to even, as cv2.addWeighted does.
    assert st.colour(0).tolist() == [128, 32, 32]
    assert st.colour(1).tolist() == [128, 80, 80]
    assert st.colour(2).tolist() == [128, 59, 26]
    assert st.colour(20).tolist() == [82, 40, 126]
    assert st.colour(21).tolist() == st.colour(0).tolist()
    assert DEFAULT_MAP_STYLE == "magicmotion" and DEFAULT.map_style == "magicmotion"


def test_magicmotion_maps_fill_frame0_and_outline_boxes():
    ann, masks = _objects()
    st = MAP_STYLES["magicmotion"]
    maps = render_maps(from_annotation(ann, "box"))  # the default style
    c0, c1 = st.colour(0), st.colour(1)
    # frame 0: filled masks; the smaller object 0 lies on top of object 1 (MaskAnnotator paints largest first)
    np.testing.assert_array_equal(np.all(maps[0] == c0, axis=-1), masks[0, 0])
    np.testing.assert_array_equal(np.all(maps[0] == c1, axis=-1), masks[1, 0] & ~masks[0, 0])
    assert not maps[0][~masks[:, 0].any(0)].any()  # black elsewhere
    # frame 2: outlines min(H, W) // 100 = 4 px thick, inside the box, hollow
    th = box_thickness(H, W)
    assert th == 4
    hit = np.all(maps[2] == c1, axis=-1)
    x0, y0, x1, y1 = 60, 40, 420, 300
    assert hit[y0 : y0 + th, x0:x1].all() and hit[y1 - th : y1, x0:x1].all()
    assert hit[y0:y1, x0 : x0 + th].all() and hit[y0:y1, x1 - th : x1].all()
    assert hit.sum() == 2 * th * (x1 - x0) + 2 * th * (y1 - y0 - 2 * th)
    assert not hit[y0 + th : y1 - th, x0 + th : x1 - th].any()
    assert np.all(maps[2] == st.colour(2), axis=-1).sum() > 0


def test_full_intensity_style_keeps_the_old_palette_and_order():
    ann, masks = _objects()
    maps = render_maps(from_annotation(ann, "box"), "full-intensity")
    # later objects on top: green object 1 hides the red object 0 inside it
    np.testing.assert_array_equal(np.all(maps[0] == (0, 255, 0), axis=-1), masks[1, 0])
    assert not np.all(maps[0] == (255, 0, 0), axis=-1).any()
    with pytest.raises(ValueError, match="unknown map style"):
        render_maps(from_annotation(ann, "box"), "neon")


def test_style_is_a_protocol_field_and_part_of_the_request():
    assert Protocol(map_style="full-intensity").hash() != DEFAULT.hash()
    assert Protocol.from_dict(DEFAULT.to_dict()).map_style == "magicmotion"
    with pytest.raises(ValueError, match="map_style"):
        Protocol(map_style="neon")
    ann, _ = _objects(count=2)
    traj = from_annotation(ann, "box")
    first = np.zeros((H, W, 3), np.uint8)
    req = GenerationRequest("v", first, "", traj, T, H, W, seed=0)
    assert req.map_style == "magicmotion"
    other = GenerationRequest("v", first, "", traj, T, H, W, seed=0, map_style="full-intensity")
    assert other.content_hash() != req.content_hash()


def _supervision_maps(ann, kind):
    """MagicMotion's drawing: MaskAnnotator on black, class id = object index + 1, outlines as masks."""
    sv = pytest.importorskip("supervision")
    traj = from_annotation(ann, kind)
    k_count = traj.num_objects
    th = box_thickness(ann.height, ann.width)
    ann_ = sv.MaskAnnotator(color=sv.ColorPalette.DEFAULT, opacity=0.5, color_lookup=sv.ColorLookup.CLASS)
    out = []
    for t in range(ann.num_frames):
        if t == 0:
            regions = traj.first_masks
        else:
            regions = np.zeros((k_count, ann.height, ann.width), bool)
            for k in range(k_count):
                x0, y0, x1, y1 = traj.boxes[k, t].astype(int)
                regions[k, y0:y1, x0:x1] = True
                regions[k, y0 + th : y1 - th, x0 + th : x1 - th] = False
        det = sv.Detections(
            xyxy=np.zeros((k_count, 4), np.float32), mask=regions, class_id=np.arange(1, k_count + 1)
        )
        bgr = ann_.annotate(np.zeros((ann.height, ann.width, 3), np.uint8), det)
        out.append(bgr[..., ::-1])
    return np.stack(out)


def test_magicmotion_style_equals_supervision_maskannotator_bit_for_bit():
    pytest.importorskip("cv2")
    ann, _ = _objects(count=5)
    expected = _supervision_maps(ann, "box")
    np.testing.assert_array_equal(render_maps(from_annotation(ann, "box"), "magicmotion"), expected)
