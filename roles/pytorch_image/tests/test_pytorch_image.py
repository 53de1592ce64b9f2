"""pytorch_image's end state: the image is present at the digest provision recorded (and pinned)."""
import json


def test_image_present_at_the_recorded_digest(host, provision_vars):
    record = json.loads(host.file("/var/lib/provision/facts/pytorch_image.json").content_string)
    assert record["image"] == provision_vars["pytorch_image"]
    digests = host.run("docker image inspect --format '{{json .RepoDigests}}' %s", record["image"])
    assert digests.rc == 0, f"{record['image']} is not on the host"
    assert any(entry.endswith(record["digest"]) for entry in json.loads(digests.stdout)), "the image moved"
    if provision_vars.get("pytorch_image_digest_pin"):
        assert record["digest"] == provision_vars["pytorch_image_digest_pin"]
