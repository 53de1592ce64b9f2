"""template over real SSH: rendered with the host's variables on the control machine, installed like copy,
validate and backup run on the host. Its decisions are in test_content_modules_data.py."""
import pytest

from provision.templating import Templar
from tests.conftest import run_module
from tests.modules.hostfiles import remote  # noqa: F401  (fixture)

pytestmark = pytest.mark.sandbox

TEMPLATE = """# managed by provision
{% for server in ntp_servers %}
server {{ server }} iburst
{% endfor %}
driftfile {{ drift | default('/var/lib/chrony/drift') }}
"""


@pytest.fixture
def templates(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "chrony.conf.j2").write_text(TEMPLATE)
    return str(tmp_path)


def context_for(module_context, templates, check=False, **variables):
    templar = Templar({"ntp_servers": ["a.lab", "b.lab"], **variables})
    return module_context(check=check, search_dirs=[templates], render_text=templar.render_text)


def test_renders_installs_and_reruns_ok(remote, module_context, templates):
    dest = remote.path("chrony.conf")
    args = {"src": "chrony.conf.j2", "dest": dest, "mode": "0644", "owner": "deploy"}

    first = run_module("template", args, context_for(module_context, templates))
    second = run_module("template", args, context_for(module_context, templates))

    assert (first.status, second.status) == ("changed", "ok"), first.msg
    on_host = remote.look(dest)
    # as Ansible renders it: trim_blocks drops the newline after each block tag; the trailing one is kept
    assert on_host.text == ("# managed by provision\nserver a.lab iburst\nserver b.lab iburst\n"
                            "driftfile /var/lib/chrony/drift\n")
    assert (on_host.owner, on_host.mode) == ("deploy", "0644")
    assert remote.listing() == ["chrony.conf"]








def test_validate_and_backup_like_copy(remote, module_context, templates):
    dest = remote.put("chrony.conf", "old\n")
    refused = run_module("template", {"src": "chrony.conf.j2", "dest": dest, "validate": "grep -q nomatch %s"},
                         context_for(module_context, templates))
    replaced = run_module("template", {"src": "chrony.conf.j2", "dest": dest, "backup": True},
                          context_for(module_context, templates))
    assert refused.status == "failed" and "validation failed" in refused.msg
    assert replaced.status == "changed"
    assert remote.look(replaced.data["backup_file"]).text == "old\n"
    assert remote.look(dest).text.startswith("# managed by provision\n")
