"""The FlashMotion paper's published numbers, Tables 1-8, transcribed from the paper text.

They were measured on FlashBench (600 real videos, 121 frames), MagicBench and DAVIS with the
official extractors and the 5B models; they were not re-evaluated here. `flashbench
reproduce tiny` prints them beside its own tables, each in a table of its own, never ranked
with ours.

Every number is one :class:`PaperNumber` (table, section, row, column, value); a cell the
paper leaves empty (DMD and GAN with the ControlNet adapter ran out of memory) is a row with
``note="OOM"`` and no values. Mask/box IoU pairs ("M/B IoU") are split into the columns
``M IoU`` and ``B IoU``. Row names are the paper's, without its citation brackets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

# Section names, as the paper prints them.
MULTISTEP = "MultiSteps (50 Steps)"
RESNET = "FewSteps (4 Steps) — Adapter: ResNet"
CONTROLNET = "FewSteps (4 Steps) — Adapter: ControlNet"
ABL_RESNET = "Adapter Type: ResNet"
ABL_CONTROLNET = "Adapter Type: ControlNet"

METRICS = ("FID", "FVD", "M IoU", "B IoU")
BENCHMARKS = ("FlashBench", "MagicBench", "DAVIS")
GROUP_HEADERS = {"1": "Obj_Num=1", "2": "Obj_Num=2", "3": "Obj_Num=3", "4": "Obj_Num=4", "5": "Obj_Num=5",
                 ">5": "Obj_Num>5"}
OOM = "OOM"


def _bench_columns(benchmarks: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{b} {m}" for b in benchmarks for m in METRICS)


@dataclass(frozen=True)
class PaperRow:
    section: str
    row: str
    values: tuple = ()  # one per column of the table; empty when ``note`` says why
    note: str = ""


@dataclass(frozen=True)
class PaperTable:
    number: int
    caption: str  # the paper's caption, shortened
    columns: tuple[str, ...]
    rows: tuple[PaperRow, ...]

    def row(self, section: str, row: str) -> PaperRow:
        for r in self.rows:
            if r.section == section and r.row == row:
                return r
        raise KeyError(f"Table {self.number} has no row {row!r} in section {section!r}")

    def value(self, section: str, row: str, column: str):
        r = self.row(section, row)
        if not r.values:
            return None
        return r.values[self.columns.index(column)]


@dataclass(frozen=True)
class PaperNumber:
    table: int
    section: str
    row: str
    column: str
    value: float | int | str


def _t(section: str, row: str, *values) -> PaperRow:
    return PaperRow(section, row, tuple(values))


# ----------------------------------------------------------------------------- Table 1
# FlashBench | MagicBench | DAVIS (FID, FVD, M IoU, B IoU each), denoising time (s), params (B).

TABLE_1 = PaperTable(
    1, "Quantitative results on FlashBench, MagicBench and DAVIS; denoising time for 121 frames on one A100",
    _bench_columns(BENCHMARKS) + ("Denoising Time (s)", "Params (B)"),
    (
        _t(MULTISTEP, "MagicMotion", 20.03, 138.83, 68.10, 73.68, 15.17, 107.21, 76.61, 81.45, 50.36, 760.95, 53.94, 72.84, 1158.63, 11.53),
        _t(MULTISTEP, "Wan2.2 (ResNet)", 19.03, 139.61, 52.19, 57.76, 21.72, 140.41, 62.09, 67.85, 46.44, 703.15, 31.22, 42.74, 333.00, 5.02),
        _t(MULTISTEP, "Wan2.2 (ControlNet)", 16.93, 152.04, 65.41, 71.28, 20.05, 157.98, 72.80, 78.46, 43.70, 791.80, 52.76, 71.20, 664.53, 10.28),
        _t(MULTISTEP, "DragAnything", 34.93, 267.56, 58.54, 61.72, 31.36, 253.40, 66.30, 70.85, 70.70, 1166.22, 40.13, 53.60, 589.07, 2.21),
        _t(MULTISTEP, "SG-I2V", 28.52, 252.49, 50.20, 55.72, 32.60, 168.82, 68.78, 74.39, 90.93, 1170.60, 37.36, 50.96, 1277.15, 1.52),
        _t(MULTISTEP, "Tora", 31.79, 315.11, 48.17, 53.70, 26.27, 245.23, 58.95, 64.03, 51.75, 766.76, 37.98, 50.90, 691.13, 6.32),
        _t(MULTISTEP, "LeviTor", 64.58, 335.47, 36.36, 39.81, 38.32, 194.53, 39.96, 46.36, 97.98, 922.68, 25.24, 31.42, 80.08, 2.21),
        _t(RESNET, "DMD", 24.38, 228.33, 43.24, 52.61, 25.27, 206.57, 49.69, 59.44, 51.75, 1058.35, 33.08, 49.78, 11.72, 5.02),
        _t(RESNET, "GAN", 31.32, 208.06, 43.78, 49.99, 33.31, 209.93, 56.60, 63.10, 66.31, 1143.14, 30.49, 42.80, 11.72, 5.02),
        _t(RESNET, "LCM", 26.79, 462.09, 55.31, 60.80, 28.24, 398.06, 64.98, 70.83, 63.07, 1075.61, 42.56, 58.52, 11.72, 5.02),
        _t(RESNET, "FlashMotion", 15.81, 108.96, 63.96, 70.01, 14.16, 109.20, 72.34, 77.92, 50.58, 786.42, 46.74, 64.00, 11.72, 5.02),
        PaperRow(CONTROLNET, "DMD / GAN", note=OOM),
        _t(CONTROLNET, "LCM", 28.34, 340.29, 61.29, 64.83, 25.87, 261.87, 70.55, 74.57, 62.25, 1164.75, 45.94, 61.27, 24.44, 10.28),
        _t(CONTROLNET, "FlashMotion", 14.35, 96.08, 69.15, 75.38, 12.49, 99.30, 76.92, 82.17, 45.66, 690.13, 54.54, 74.37, 24.44, 10.28),
    ),
)

# ----------------------------------------------------------------------------- Tables 2 and 3 (FlashBench)

TABLE_2 = PaperTable(
    2, "Ablation studies on the FastAdapter training stage, diffusion loss, GAN loss and dynamic loss scaling (FlashBench)",
    METRICS,
    (
        _t(ABL_RESNET, "Slow Adapter", 22.75, 168.46, 49.79, 56.62),
        _t(ABL_RESNET, "w/o Diffusion Loss", 18.87, 161.07, 52.04, 58.04),
        _t(ABL_RESNET, "w/o GAN Loss", 22.74, 206.75, 65.82, 70.60),
        _t(ABL_RESNET, "w/o Dynamic Scale", 26.32, 210.93, 65.54, 69.77),
        _t(ABL_RESNET, "FlashMotion", 15.81, 108.96, 63.96, 70.01),
        _t(ABL_CONTROLNET, "Slow Adapter", 19.44, 171.83, 62.72, 69.38),
        _t(ABL_CONTROLNET, "w/o Diffusion Loss", 21.21, 172.04, 55.91, 61.59),
        _t(ABL_CONTROLNET, "w/o GAN Loss", 28.82, 265.46, 71.56, 75.48),
        _t(ABL_CONTROLNET, "w/o Dynamic Scale", 19.93, 155.55, 70.46, 75.89),
        _t(ABL_CONTROLNET, "FlashMotion", 14.35, 96.08, 69.15, 75.38),
    ),
)

TABLE_3 = PaperTable(
    3, "Ablation study on the discriminator architecture (FlashBench); VC Video Cross-Attention, SS Semantic "
       "Self-Attention, TC Trajectory Cross-Attention",
    METRICS,
    (
        _t(ABL_RESNET, "VC only", 16.76, 110.83, 62.07, 67.76),
        _t(ABL_RESNET, "SS+VC", 16.31, 109.02, 62.54, 68.05),
        _t(ABL_RESNET, "TC+VC", 16.64, 110.01, 62.99, 69.36),
        _t(ABL_RESNET, "FlashMotion", 15.81, 108.96, 63.96, 70.01),
        _t(ABL_CONTROLNET, "VC only", 15.56, 115.72, 63.04, 71.73),
        _t(ABL_CONTROLNET, "SS+VC", 15.37, 99.24, 65.84, 72.35),
        _t(ABL_CONTROLNET, "TC+VC", 15.70, 101.06, 68.78, 73.85),
        _t(ABL_CONTROLNET, "FlashMotion", 14.35, 96.08, 69.15, 75.38),
    ),
)

# ----------------------------------------------------------------------------- Tables 4 and 5 (three benchmarks)

TABLE_4 = PaperTable(
    4, "Comprehensive ablation study of FlashMotion on FlashBench, MagicBench and DAVIS",
    _bench_columns(BENCHMARKS),
    (
        _t(ABL_RESNET, "Slow Adapter", 22.75, 168.46, 49.79, 56.62, 21.59, 162.93, 60.24, 67.23, 52.01, 992.26, 36.33, 51.37),
        _t(ABL_RESNET, "w/o Diffusion Loss", 18.87, 161.07, 52.04, 58.04, 21.95, 162.31, 63.14, 69.02, 55.28, 983.91, 37.22, 52.47),
        _t(ABL_RESNET, "w/o GAN Loss", 22.74, 206.75, 65.82, 70.60, 30.51, 167.91, 73.86, 78.48, 66.46, 1015.81, 47.13, 62.58),
        _t(ABL_RESNET, "w/o Dynamic Scale", 26.32, 210.93, 65.54, 69.77, 21.90, 167.00, 73.60, 78.15, 73.12, 998.85, 47.01, 60.12),
        _t(ABL_RESNET, "FlashMotion", 15.81, 108.96, 63.96, 70.01, 14.16, 109.20, 72.34, 77.92, 50.58, 786.42, 46.74, 64.00),
        _t(ABL_CONTROLNET, "Slow Adapter", 19.44, 171.83, 62.72, 69.38, 21.19, 161.80, 70.20, 76.54, 46.42, 875.37, 50.52, 70.83),
        _t(ABL_CONTROLNET, "w/o Diffusion Loss", 21.21, 172.04, 55.91, 61.59, 22.36, 176.01, 66.25, 71.82, 49.27, 882.81, 42.46, 59.01),
        _t(ABL_CONTROLNET, "w/o GAN Loss", 28.82, 265.46, 71.56, 75.48, 26.33, 192.85, 78.26, 82.15, 75.42, 1131.65, 55.87, 68.59),
        _t(ABL_CONTROLNET, "w/o Dynamic Scale", 19.93, 155.55, 70.46, 75.89, 16.83, 131.59, 77.49, 82.29, 61.47, 958.22, 55.51, 70.13),
        _t(ABL_CONTROLNET, "FlashMotion", 14.35, 96.08, 69.15, 75.38, 12.49, 99.30, 76.92, 82.17, 45.66, 690.13, 54.54, 74.37),
    ),
)

TABLE_5 = PaperTable(
    5, "Ablation study on the discriminator architecture on FlashBench, MagicBench and DAVIS",
    _bench_columns(BENCHMARKS),
    (
        _t(ABL_RESNET, "VC only", 16.76, 110.83, 62.07, 67.76, 14.73, 114.61, 71.00, 75.86, 53.22, 800.50, 43.97, 60.16),
        _t(ABL_RESNET, "SS+VC", 16.31, 109.02, 62.54, 68.05, 14.44, 113.88, 71.16, 76.28, 52.34, 830.14, 44.61, 62.50),
        _t(ABL_RESNET, "TC+VC", 16.64, 110.01, 62.99, 69.36, 14.87, 114.11, 71.70, 77.31, 53.16, 830.57, 45.11, 62.56),
        _t(ABL_RESNET, "FlashMotion", 15.81, 108.96, 63.96, 70.01, 14.16, 109.20, 72.34, 77.92, 50.58, 786.42, 46.74, 64.00),
        _t(ABL_CONTROLNET, "VC only", 15.56, 115.72, 63.04, 71.73, 13.71, 120.22, 75.78, 81.33, 49.39, 798.79, 51.48, 69.00),
        _t(ABL_CONTROLNET, "SS+VC", 15.37, 99.24, 65.84, 72.35, 13.42, 101.58, 75.35, 81.06, 46.24, 711.82, 53.33, 71.99),
        _t(ABL_CONTROLNET, "TC+VC", 15.70, 101.06, 68.78, 73.85, 13.96, 105.49, 76.48, 82.15, 48.50, 758.96, 53.91, 72.90),
        _t(ABL_CONTROLNET, "FlashMotion", 14.35, 96.08, 69.15, 75.38, 12.49, 99.30, 76.92, 82.17, 45.66, 690.13, 54.54, 74.37),
    ),
)

# ----------------------------------------------------------------------------- Table 6

TABLE_6 = PaperTable(
    6, "Model configurations and backbone architectures",
    ("Video Length", "Video Resolution", "Denoising Latency (s)", "Total Params (B)", "Base Model"),
    (
        _t("", "LeviTor", 16, "288×512", 80.08, 2.21, "SVD"),
        _t("", "DragAnything", 14, "320×576", 589.07, 2.21, "SVD"),
        _t("", "SG-I2V", 14, "576×1024", 1277.15, 1.52, "SVD"),
        _t("", "Tora", 49, "480×720", 691.13, 6.32, "CogVideoX"),
        _t("", "MagicMotion", 49, "480×720", 1158.63, 11.53, "CogVideoX"),
        _t("", "Wan+ResNet", 121, "704×1280", 333.00, 5.02, "Wan2.2"),
        _t("", "Wan+ControlNet", 121, "704×1280", 664.53, 10.28, "Wan2.2"),
        _t("", "FlashMotion (ResNet)", 121, "704×1280", 11.72, 5.02, "Wan2.2"),
        _t("", "FlashMotion (ControlNet)", 121, "704×1280", 24.44, 10.28, "Wan2.2"),
    ),
)

# ----------------------------------------------------------------------------- Tables 7 and 8 (FlashBench by object count)


def _group_columns(groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{GROUP_HEADERS[g]} {m}" for g in groups for m in METRICS)


TABLE_7 = PaperTable(
    7, "FlashBench, scenes with 1, 2 and 3 controlled objects",
    _group_columns(("1", "2", "3")),
    (
        _t(MULTISTEP, "MagicMotion", 53.62, 741.91, 67.93, 83.46, 59.37, 697.50, 61.05, 73.47, 52.44, 563.38, 66.13, 72.92),
        _t(MULTISTEP, "Wan2.2 (ResNet)", 49.01, 599.93, 61.10, 76.34, 56.19, 582.42, 51.49, 62.07, 57.39, 566.53, 50.06, 56.75),
        _t(MULTISTEP, "Wan2.2 (ControlNet)", 50.04, 594.54, 66.07, 83.98, 51.20, 591.56, 59.64, 73.18, 49.49, 547.90, 62.64, 70.01),
        _t(MULTISTEP, "DragAnything", 76.28, 1076.20, 62.70, 74.88, 91.08, 1196.46, 53.34, 63.06, 89.26, 1099.45, 54.01, 57.55),
        _t(MULTISTEP, "SG-I2V", 70.20, 984.94, 64.09, 76.45, 78.93, 926.79, 47.16, 57.04, 73.08, 891.52, 48.31, 54.25),
        _t(MULTISTEP, "Tora", 73.15, 902.55, 58.24, 69.00, 80.27, 939.72, 46.45, 57.47, 82.54, 869.43, 46.80, 52.66),
        _t(MULTISTEP, "LeviTor", 128.25, 1318.56, 49.63, 59.73, 127.24, 1124.07, 38.09, 44.82, 131.60, 1252.00, 35.65, 39.08),
        _t(RESNET, "DMD", 64.71, 709.74, 55.34, 74.30, 63.28, 687.09, 45.21, 59.62, 64.03, 636.34, 43.08, 53.14),
        _t(RESNET, "GAN", 79.73, 728.35, 54.58, 66.52, 77.25, 700.88, 41.38, 51.34, 74.52, 673.58, 41.46, 48.80),
        _t(RESNET, "LCM", 58.97, 875.26, 64.61, 80.06, 72.26, 1032.56, 56.40, 68.58, 65.52, 1033.12, 53.52, 59.67),
        _t(RESNET, "FlashMotion", 46.64, 509.36, 68.02, 84.86, 51.21, 497.62, 60.27, 73.08, 44.41, 433.60, 63.40, 71.59),
        PaperRow(CONTROLNET, "DMD / GAN", note=OOM),
        _t(CONTROLNET, "LCM", 61.13, 851.48, 62.83, 76.15, 76.41, 929.77, 56.68, 66.79, 69.65, 831.79, 57.86, 63.51),
        _t(CONTROLNET, "FlashMotion", 44.97, 465.86, 68.44, 84.51, 46.16, 437.18, 63.87, 76.99, 42.20, 422.16, 66.45, 73.91),
    ),
)

TABLE_8 = PaperTable(
    8, "FlashBench, scenes with 4, 5 and more than 5 controlled objects",
    _group_columns(("4", "5", ">5")),
    (
        _t(MULTISTEP, "MagicMotion", 45.67, 546.40, 70.29, 73.21, 44.41, 450.10, 73.86, 76.93, 44.41, 409.25, 69.29, 62.35),
        _t(MULTISTEP, "Wan2.2 (ResNet)", 61.69, 575.65, 50.89, 53.93, 52.04, 476.04, 55.56, 56.98, 41.59, 453.60, 44.31, 41.03),
        _t(MULTISTEP, "Wan2.2 (ControlNet)", 49.25, 503.03, 66.15, 68.65, 43.58, 409.57, 70.70, 70.94, 37.11, 406.06, 67.27, 61.05),
        _t(MULTISTEP, "DragAnything", 75.00, 997.03, 59.97, 60.23, 83.35, 812.67, 62.92, 61.48, 97.48, 1006.25, 56.95, 49.51),
        _t(MULTISTEP, "SG-I2V", 64.83, 861.49, 50.87, 55.46, 65.91, 713.41, 54.21, 55.83, 66.22, 828.14, 36.75, 35.52),
        _t(MULTISTEP, "Tora", 65.25, 737.03, 46.28, 51.05, 73.88, 714.65, 52.76, 54.55, 93.60, 1073.05, 37.98, 36.89),
        _t(MULTISTEP, "LeviTor", 167.97, 1774.66, 35.10, 34.02, 185.75, 2015.57, 33.33, 30.34, 135.75, 1287.67, 24.23, 23.41),
        _t(RESNET, "DMD", 66.08, 749.99, 41.38, 48.44, 67.03, 697.32, 42.02, 47.94, 52.62, 671.65, 32.74, 32.74),
        _t(RESNET, "GAN", 69.55, 571.76, 45.87, 50.43, 65.83, 500.22, 48.67, 52.49, 59.83, 584.86, 31.00, 30.78),
        _t(RESNET, "LCM", 62.24, 959.97, 57.30, 57.89, 58.71, 869.45, 56.78, 58.98, 49.66, 780.45, 43.51, 40.21),
        _t(RESNET, "FlashMotion", 38.47, 411.71, 66.58, 67.87, 39.53, 326.98, 68.67, 79.78, 37.07, 384.06, 56.92, 52.02),
        PaperRow(CONTROLNET, "DMD / GAN", note=OOM),
        _t(CONTROLNET, "LCM", 60.28, 752.48, 63.18, 63.38, 56.29, 637.06, 66.48, 65.66, 53.64, 541.55, 60.79, 53.62),
        _t(CONTROLNET, "FlashMotion", 36.62, 367.24, 71.81, 75.49, 35.19, 294.47, 74.94, 76.98, 32.72, 305.68, 69.43, 64.50),
    ),
)

TABLES: dict[int, PaperTable] = {t.number: t for t in (TABLE_1, TABLE_2, TABLE_3, TABLE_4, TABLE_5, TABLE_6, TABLE_7, TABLE_8)}


def numbers(table: int | None = None) -> Iterator[PaperNumber]:
    """Every transcribed value with its table, section, row and column (OOM rows have none)."""
    for t in TABLES.values():
        if table is not None and t.number != table:
            continue
        for r in t.rows:
            if r.values and len(r.values) != len(t.columns):
                raise AssertionError(f"Table {t.number}, {r.row}: {len(r.values)} values for {len(t.columns)} columns")
            for col, v in zip(t.columns, r.values):
                yield PaperNumber(t.number, r.section, r.row, col, v)


def table_label(number: int | str) -> str:
    """The caption every printed paper table carries."""
    what = f"Tables {number}" if isinstance(number, str) else f"Table {number}"
    return f"the FlashMotion paper, {what} (FlashBench, official extractors, 5B models)"
