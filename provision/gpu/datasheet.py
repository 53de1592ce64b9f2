"""Datasheet memory bandwidth of NVIDIA GPUs, by PCI device id (the keys of provision/gpu/data/gpus.yaml),
for gpu_verify's `hbm_bandwidth` floor. Kept on the verify side: provision/gpu/data is another table's home.

Sources: each product's NVIDIA datasheet or product page (peak DRAM bandwidth, GB/s = 10^9 bytes/s),
as printed there: H100 SXM 3.35 TB/s, H100 PCIe 2.0 TB/s, H100 NVL 3.9 TB/s, H200 SXM and NVL 4.8 TB/s,
A100 40GB 1,555 GB/s, A100 80GB SXM 2,039 GB/s and PCIe 1,935 GB/s, L40S/L40 864 GB/s, L4 300 GB/s,
A10 600 GB/s, A30 933 GB/s, V100 900 GB/s, T4 320 GB/s, B200 8 TB/s (HGX B200: 64 TB/s for 8 GPUs).
`None` marks a part without a figure we could confirm: with gpu_verify_require_gpu the check then
fails and asks for gpu_verify_hbm_peak_gbps, rather than passing unmeasured.

The easy thing to get wrong: a copy reads and writes, so the script counts 2 x bytes per copy; even
so a copy reaches roughly 80-90 % of the datasheet on HBM parts (uncalibrated here: no GPU in this
project's test machines), hence the role's fraction of 0.6.
"""
from __future__ import annotations

MEMORY_BANDWIDTH_GBPS: dict[str, float | None] = {
    # Pascal
    "15f7": 549, "15f8": 732, "15f9": 732, "1b38": 346, "1bb3": 192,
    # Volta
    "1db1": 900, "1db4": 900, "1db5": 900, "1db6": 900, "1db7": 900, "1db8": 900, "1df6": 1134,
    # Turing
    "1eb8": 320, "1e30": 672,
    # Ampere
    "20b0": 1555, "20b1": 1555, "20f1": 1555, "20b2": 2039, "20b5": 1935, "20b8": None,
    "20f3": 2039, "20f5": 1935, "20b7": 933, "2230": 768, "2231": 768, "2235": 696, "2236": 600,
    "2237": None,  # A10G: AWS part, no public datasheet
    "25b6": None,  # A2 (200 GB/s) and A16 share the id
    # Ada
    "26b1": 960, "26b5": 864, "26b9": 864, "26ba": None, "27b8": 300,
    # Hopper
    "2330": 3350, "2331": 2000, "2321": 3900, "2337": None, "2339": None, "2322": 2000, "2324": 3350,
    "2335": 4800, "233b": 4800, "2329": 4000, "2342": 4000, "2348": 4900,
    # Blackwell
    "2901": 8000, "2941": 8000, "3182": 8000, "31c2": 8000,
    "2bb1": 1792, "2bb5": 1792,
}


def memory_bandwidth(device_ids: list[str]) -> tuple[float | None, str]:
    """The slowest GPU's datasheet bandwidth (GB/s) and where it came from; None when any GPU lacks one
    (a floor from the others could be too high or too low for it)."""
    ids = sorted({str(device_id).lower().removeprefix("0x") for device_id in device_ids if device_id})
    if not ids:
        return None, "no GPU model known (gpu_preflight did not run or found no GPU)"
    unknown = [device_id for device_id in ids if MEMORY_BANDWIDTH_GBPS.get(device_id) is None]
    if unknown:
        return None, f"no datasheet memory bandwidth for PCI id(s) {', '.join(unknown)}"
    slowest = min(ids, key=lambda device_id: MEMORY_BANDWIDTH_GBPS[device_id])
    return float(MEMORY_BANDWIDTH_GBPS[slowest]), f"datasheet of PCI id {slowest}"
