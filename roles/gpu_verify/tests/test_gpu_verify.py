"""gpu_verify's end state: the last verification report on the host passed."""
import json


def test_last_gpu_verification_passed(host):
    last = host.file("/var/lib/provision/gpu_verify/last.json")
    assert last.exists, "gpu_verify never ran on this host"
    report = json.loads(last.content_string)
    failed = [f"{check['name']}: {check.get('detail')}" for check in report["checks"] if check["status"] == "fail"]
    assert not failed, "; ".join(failed)
