"""gpu_verify's end state: the last verification on the host passed.

last.json holds the last full report; last-quick.json a quick one, written only by a quick run
outside check mode. The quick report is judged too when it is newer (a later quick failure is
news; an older one was superseded by the full run). Each judged report is recorded as a test
property, so `provision verify` can show the GPU table from it.
"""
import json

STATE_DIR = "/var/lib/provision/gpu_verify"


def failures(report):
    return [f"{check['name']}: {check.get('detail')}" for check in report["checks"] if check["status"] == "fail"]


def test_last_gpu_verification_passed(host, record_property):
    last = host.file(f"{STATE_DIR}/last.json")
    quick = host.file(f"{STATE_DIR}/last-quick.json")
    assert last.exists or quick.exists, "gpu_verify never ran on this host"
    failed = []
    if last.exists:
        report = json.loads(last.content_string)
        record_property("gpu_verify_report", report)
        failed += failures(report)
    if quick.exists and (not last.exists or quick.mtime > last.mtime):
        report = json.loads(quick.content_string)
        record_property("gpu_verify_quick_report", report)
        failed += [f"quick {line}" for line in failures(report)]
    assert not failed, "; ".join(failed)
