"""What the gpu_verify module reads on the GPU host itself, outside the container: one shell round trip
(nvidia-smi queries, NVLink and fabric state, the kernel log's Xid lines), pure parsers, and judges
that return checks in the script's shape (name, status, detail, remedy, value, floor).

These are the failures a container cannot see: persistence mode, ECC and row-remap state, links
down, a fabric manager that never finished, Xids since boot. The easy thing to get wrong: on a
host without a GPU that is not required to have one (the sandbox), each of them must be a skip,
whatever a stand-in nvidia-smi prints; on a real GPU host output that cannot be read is a failure,
never a pass.

Before the container runs, the module also reads the GPU jobs on the host (BUSY_QUERIES: compute
processes and GPU containers), so it never benchmarks GPUs a job is using. There an nvidia-smi that
is absent or fails means "no job known", not a fault: the host checks judge the driver afterwards.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from provision.shell import join

PASS, FAIL, SKIP = "pass", "fail", "skip"
HOST_CHECKS = ("persistence_mode", "ecc_errors", "row_remap", "nvlink_state", "fabric_state", "xid_errors")

# name -> command; each runs once and its output and exit status come back as one section
QUERIES = {
    "gpus": join(["nvidia-smi", "--query-gpu=index,pci.bus_id,persistence_mode,ecc.mode.current,"
                  "ecc.errors.uncorrected.volatile.total,retired_pages.pending", "--format=csv,noheader"]),
    "remap": join(["nvidia-smi", "--query-remapped-rows=gpu_bus_id,remapped_rows.pending,remapped_rows.failure",
                   "--format=csv,noheader"]),
    "nvlink": join(["nvidia-smi", "nvlink", "-s"]),
    "query": join(["nvidia-smi", "-q"]),
    # this boot's kernel log: the journal where there is one, else the ring buffer
    "xid": "if log=$(journalctl -k -b -q --no-pager 2>/dev/null); then echo source=journalctl; "
           "elif log=$(dmesg 2>/dev/null); then echo source=dmesg; else echo source=none; exit 1; fi; "
           "printf '%s\\n' \"$log\" | grep 'NVRM: Xid' | tail -n 200; true",
}
MARK = "@@provision-host-check"


def sections_command(queries: dict[str, str]) -> str:
    """One shell text that prints each query's output between marks, with its exit status."""
    parts = [f"echo '{MARK} {name}'; ( {command} ) 2>&1; echo \"{MARK} rc=$?\"" for name, command in queries.items()]
    return "; ".join(parts)


def read_command() -> str:
    """The host checks' round trip (after the container, so Xids it caused show)."""
    return sections_command(QUERIES)


def split_sections(stdout: str) -> dict[str, tuple[str, int]]:
    """{name: (output, exit status)} from read_command's output; a section cut short has status -1."""
    sections, name, lines = {}, None, []
    for line in stdout.splitlines():
        if line.startswith(MARK + " rc=") and name:
            sections[name] = ("\n".join(lines), int(line.rsplit("=", 1)[1] or -1))
            name, lines = None, []
        elif line.startswith(MARK + " "):
            name, lines = line[len(MARK) + 1:].strip(), []
        elif name:
            lines.append(line)
    return sections


# --- parsers: real nvidia-smi output formats in, plain data out --------------------------------------

NOT_AVAILABLE = {"", "n/a", "[n/a]", "not supported", "[not supported]", "unknown error"}


def parse_csv(text: str) -> list[list[str]]:
    """`--format=csv,noheader` rows: "0, 00000000:18:00.0, Enabled, ..." -> ["0", "00000000:18:00.0", ...]."""
    return [[cell.strip() for cell in line.split(",")] for line in text.splitlines() if line.strip()]


def available(value: str) -> bool:
    return value.strip().lower() not in NOT_AVAILABLE


def parse_nvlink(text: str) -> list[dict]:
    """`nvidia-smi nvlink -s`: one entry per GPU with its links, each "26.562 GB/s" or "<inactive>"."""
    gpus: list[dict] = []
    for line in text.splitlines():
        gpu = re.match(r"^GPU (\d+): (.*?)(?: \(UUID: .*\))?$", line.strip())
        link = re.match(r"^Link (\d+): (.*)$", line.strip())
        if gpu:
            gpus.append({"index": int(gpu.group(1)), "name": gpu.group(2), "links": {}})
        elif link and gpus:
            gpus[-1]["links"][int(link.group(1))] = link.group(2).strip()
    return gpus


def parse_fabric(text: str) -> list[dict]:
    """`nvidia-smi -q`: per GPU (by bus id) the Fabric section's State and Status, None where absent."""
    gpus: list[dict] = []
    in_fabric = False
    for line in text.splitlines():
        gpu = re.match(r"^GPU ([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.\d)\s*$", line)
        if gpu:
            gpus.append({"address": gpu.group(1), "state": None, "status": None})
            in_fabric = False
            continue
        indent = len(line) - len(line.lstrip())
        if line.strip() == "Fabric" and gpus:
            in_fabric, fabric_indent = True, indent
            continue
        if in_fabric and line.strip() and indent <= fabric_indent:
            in_fabric = False
        if in_fabric and ":" in line:
            key, _, value = line.partition(":")
            if key.strip() in ("State", "Status"):
                gpus[-1][key.strip().lower()] = value.strip()
    return gpus


XID = re.compile(r"NVRM: Xid \(PCI:([0-9A-Fa-f:.]+)\): (\d+),?\s*(.*)")


def parse_xid(text: str) -> tuple[str, list[dict]]:
    """The kernel log's source line and its Xid events (address, code, message)."""
    lines = text.splitlines()
    source = lines[0].partition("=")[2] if lines and lines[0].startswith("source=") else "none"
    events = []
    for line in lines[1:]:
        match = XID.search(line)
        if match:
            events.append({"address": match.group(1), "code": int(match.group(2)), "message": match.group(3)[:200]})
    return source, events


# --- judges -----------------------------------------------------------------------------------------


def check(name: str, status: str, detail: str, remedy: str = "", value: Any = None, floor: Any = None) -> dict:
    return {"name": name, "status": status, "detail": detail, "remedy": remedy, "value": value, "floor": floor}


def unreadable(name: str, section: tuple[str, int] | None, what: str) -> dict | None:
    """A failure when nvidia-smi could not answer (on a GPU host that is itself a fault), else None."""
    if section is None:
        return check(name, FAIL, f"{what}: no answer from the host", "check that nvidia-smi runs on the host")
    text, rc = section
    if rc != 0:
        first = (text.strip().splitlines() or ["(no output)"])[0][:200]
        return check(name, FAIL, f"{what} failed (rc={rc}): {first}",
                     "check the driver (nvidia-smi) on the host; a field unknown to an old driver shows here too")
    return None


def judge_persistence(section) -> dict:
    problem = unreadable("persistence_mode", section, "nvidia-smi --query-gpu")
    if problem:
        return problem
    rows = parse_csv(section[0])
    off = [f"GPU {row[0]}" for row in rows if row[2] != "Enabled"]
    value = {row[0]: row[2] for row in rows}
    if off or not rows:
        return check("persistence_mode", FAIL, "persistence mode is not Enabled on " + (", ".join(off) or "any GPU"),
                     "enable nvidia-persistenced (roles/reboot) or run nvidia-smi -pm 1", value, "Enabled")
    return check("persistence_mode", PASS, f"persistence mode Enabled on {len(rows)} GPU(s)", value=value, floor="Enabled")


def judge_ecc(section) -> dict:
    problem = unreadable("ecc_errors", section, "nvidia-smi --query-gpu")
    if problem:
        return problem
    problems, value = [], {}
    for index, _, _, mode, uncorrected, retired_pending in parse_csv(section[0]):
        value[index] = {"ecc_mode": mode, "uncorrected_volatile": uncorrected, "retired_pages_pending": retired_pending}
        if available(uncorrected) and uncorrected.isdigit() and int(uncorrected) > 0:
            problems.append(f"GPU {index}: {uncorrected} uncorrected ECC error(s) since the driver loaded")
        if retired_pending.lower() == "yes":
            problems.append(f"GPU {index}: retired pages pending (a reset or reboot retires them)")
    floor = "0 uncorrected volatile, no retired pages pending"
    if problems:
        return check("ecc_errors", FAIL, "; ".join(problems),
                     "drain the host, reset the GPU or reboot, then run dcgmi diag -r 3; RMA if it recurs", value, floor)
    return check("ecc_errors", PASS, f"no uncorrected ECC errors or pending page retirement on {len(value)} GPU(s)",
                 value=value, floor=floor)


def judge_row_remap(section) -> dict:
    problem = unreadable("row_remap", section, "nvidia-smi --query-remapped-rows")
    if problem:
        return problem
    problems, value = [], {}
    for address, pending, failure in (row[:3] for row in parse_csv(section[0]) if len(row) >= 3):
        value[address] = {"pending": pending, "failure": failure}
        if pending.lower() in ("yes", "1"):
            problems.append(f"{address}: row remapping pending (reset the GPU to apply it)")
        if failure.lower() in ("yes", "1"):
            problems.append(f"{address}: a row remapping failed (no spare rows left: RMA)")
    floor = "no pending or failed row remapping"
    if problems:
        return check("row_remap", FAIL, "; ".join(problems), "reset the GPU (nvidia-smi -r) or reboot; RMA on failure",
                     value, floor)
    return check("row_remap", PASS, "no pending or failed row remapping" +
                 ("" if value else " (not reported: pre-Ampere GPUs retire pages instead)"), value=value, floor=floor)


def judge_nvlink(section, nvswitch_count: int) -> dict:
    problem = unreadable("nvlink_state", section, "nvidia-smi nvlink -s")
    if problem:
        return problem
    gpus = parse_nvlink(section[0])
    value = {f"GPU {gpu['index']}": sum(speed != "<inactive>" for speed in gpu["links"].values()) for gpu in gpus}
    problems = []
    for gpu in gpus:
        inactive = sorted(link for link, speed in gpu["links"].items() if speed == "<inactive>")
        active = len(gpu["links"]) - len(inactive)
        # on an NVSwitch board every link carries traffic; elsewhere all-inactive means "no bridge fitted"
        if inactive and (nvswitch_count or active):
            problems.append(f"GPU {gpu['index']} link(s) {', '.join(map(str, inactive))} inactive "
                            f"({active} of {len(gpu['links'])} up)")
        elif nvswitch_count and not gpu["links"]:
            problems.append(f"GPU {gpu['index']} reports no NVLink on an NVSwitch board")
    floor = "every link active" if nvswitch_count else "no GPU with some links up and others down"
    if problems:
        return check("nvlink_state", FAIL, "; ".join(problems),
                     "reseat or service the baseboard; check nvidia-smi nvlink -e and the fabric manager log",
                     value, floor)
    if not any(gpu["links"] for gpu in gpus) or not any(value.values()):
        return check("nvlink_state", PASS, "no NVLink in use on this board (PCIe only)", value=value, floor=floor)
    return check("nvlink_state", PASS, f"all {sum(value.values())} NVLink links active on {len(gpus)} GPU(s)",
                 value=value, floor=floor)


def judge_fabric(section, nvswitch_count: int) -> dict:
    problem = unreadable("fabric_state", section, "nvidia-smi -q")
    if problem:
        return problem
    gpus = parse_fabric(section[0])
    value = {gpu["address"]: f"{gpu['state']}/{gpu['status']}" for gpu in gpus}
    floor = "State Completed, Status Success"
    if not nvswitch_count:
        return check("fabric_state", PASS, "no NVSwitch on this board: no fabric to join", value=value, floor=floor)
    if not gpus or all(gpu["state"] is None for gpu in gpus):
        return check("fabric_state", FAIL, "nvidia-smi -q shows no Fabric section on an NVSwitch board "
                     "(driver older than R530, or no GPU listed)", "use a driver that reports fabric state (R530+)",
                     value, floor)
    bad = [f"{gpu['address']} State {gpu['state']}, Status {gpu['status']}" for gpu in gpus
           if gpu["state"] != "Completed" or gpu["status"] != "Success"]
    if bad:
        return check("fabric_state", FAIL, "GPUs have not joined the NVLink fabric: " + "; ".join(bad),
                     "start nvidia-fabricmanager at the driver's exact version (roles/fabric_manager) and "
                     "read /var/log/fabricmanager.log", value, floor)
    return check("fabric_state", PASS, f"{len(gpus)} GPU(s) joined the fabric (Completed/Success)", value=value,
                 floor=floor)


def judge_xid(section, ignore: list[int]) -> dict:
    floor = f"no Xid since boot (ignoring {', '.join(map(str, ignore)) or 'none'})"
    if section is None or section[1] != 0:
        return check("xid_errors", FAIL, "the kernel log of this boot could not be read (journalctl -k, dmesg)",
                     "run gpu_verify with become: true, or allow reading the kernel log", floor=floor)
    source, events = parse_xid(section[0])
    counted = [event for event in events if event["code"] not in ignore]
    value = sorted({event["code"] for event in counted})
    if counted:
        shown = "; ".join(f"Xid {event['code']} on {event['address']}: {event['message']}" for event in counted[:5])
        return check("xid_errors", FAIL, f"{len(counted)} Xid event(s) in this boot's kernel log ({source}): {shown}",
                     "look each code up in NVIDIA's Xid catalogue; 48/63/64/74/79/92-95 mean drain and service",
                     value, floor)
    extra = f"; {len(events)} ignored" if events else ""
    return check("xid_errors", PASS, f"no Xid in this boot's kernel log ({source}{extra})", value=value, floor=floor)


def judge_host(stdout: str, *, judged: bool, nvswitch_count: int, xid_ignore: list[int]) -> list[dict]:
    """Every host check from read_command's output. `judged` is false on a host without a GPU that is
    not required to have one: then each check is a skip that still shows what was read."""
    sections = split_sections(stdout)
    checks = [judge_persistence(sections.get("gpus")), judge_ecc(sections.get("gpus")),
              judge_row_remap(sections.get("remap")), judge_nvlink(sections.get("nvlink"), nvswitch_count),
              judge_fabric(sections.get("query"), nvswitch_count), judge_xid(sections.get("xid"), xid_ignore)]
    if judged:
        return checks
    return [{**item, "status": SKIP, "remedy": item["remedy"] or "run on a host with an NVIDIA GPU",
             "detail": f"{item['detail']} (not judged: no GPU in the container and gpu_verify_require_gpu is false)"}
            for item in checks]


# --- GPU jobs running: read before the container, so a busy GPU is never benchmarked ----------------

# The reboot role's test for a GPU container: the nvidia runtime, or a device request for GPUs
# (`--gpus`, or CDI's nvidia.com/gpu); one `docker inspect` for all running containers, whose exit
# status is ignored: a container that stopped since `docker ps` must not hide the others.
GPU_CONTAINERS = ("command -v docker >/dev/null 2>&1 || exit 0; ids=$(docker ps -q) || exit 1; "
                  "[ -z \"$ids\" ] || docker inspect -f "
                  "'{{.Name}} {{.HostConfig.Runtime}} {{json .HostConfig.DeviceRequests}}' $ids 2>/dev/null; true")
BUSY_QUERIES = {
    "compute_apps": join(["nvidia-smi", "--query-compute-apps=pid,process_name", "--format=csv,noheader"]),
    "containers": GPU_CONTAINERS,
}


def parse_compute_apps(section: tuple[str, int] | None) -> list[dict]:
    """`--query-compute-apps=pid,process_name --format=csv,noheader` rows ("12345, /usr/bin/python3")
    -> [{"pid": 12345, "name": "python3"}]; nvidia-smi absent or failing -> [] (no process known)."""
    if section is None or section[1] != 0:
        return []
    processes = []
    for line in section[0].splitlines():
        match = re.match(r"^\s*(\d+)\s*,\s*(.*?)\s*$", line)
        if match:
            name = match.group(2).rstrip("/").rsplit("/", 1)[-1] or match.group(2)
            processes.append({"pid": int(match.group(1)), "name": name})
    return processes


def _wants_gpu(runtime: str, requests_json: str) -> bool:
    if runtime == "nvidia":
        return True
    try:
        requests = json.loads(requests_json) or []
    except ValueError:
        return '"gpu"' in requests_json or "nvidia.com/gpu" in requests_json
    for request in requests if isinstance(requests, list) else []:
        if not isinstance(request, dict):
            continue
        capabilities = [item for group in request.get("Capabilities") or [] for item in group or []]
        devices = [str(item) for item in request.get("DeviceIDs") or []]
        cdi_gpu = any("nvidia.com/gpu" in item for item in devices)
        if "gpu" in capabilities or request.get("Driver") == "nvidia" or cdi_gpu:
            return True
    return False


def parse_gpu_containers(section: tuple[str, int] | None) -> list[str]:
    """Names of the running containers that hold GPUs, from GPU_CONTAINERS' lines
    ("/trainer runc [{...\"Capabilities\":[[\"gpu\"]]...}]"); no docker or a failing one -> []."""
    if section is None or section[1] != 0:
        return []
    names = []
    for line in section[0].splitlines():
        parts = line.strip().split(" ", 2)
        if len(parts) == 3 and _wants_gpu(parts[1], parts[2]):
            names.append(parts[0].lstrip("/"))
    return names


def busy_reason(processes: list[dict], containers: list[str], shown: int = 3) -> str | None:
    """"2 GPU process(es) running (python3 x2)" and/or "1 GPU container(s) running (trainer)"; None when idle."""
    def listed(names: list[str]) -> str:
        counts = Counter(names).most_common()
        words = [name if count == 1 else f"{name} x{count}" for name, count in counts[:shown]]
        return ", ".join(words + (["..."] if len(counts) > shown else []))

    parts = []
    if processes:
        parts.append(f"{len(processes)} GPU process(es) running ({listed([item['name'] for item in processes])})")
    if containers:
        parts.append(f"{len(containers)} GPU container(s) running ({listed(containers)})")
    return "; ".join(parts) or None
