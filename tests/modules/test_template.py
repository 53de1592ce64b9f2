"""template over real SSH: rendered with the host's variables on the control machine, installed like copy."""
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
    assert on_host.text == ("# managed by provision\n\nserver a.lab iburst\n\nserver b.lab iburst\n\n"
                            "driftfile /var/lib/chrony/drift\n")  # the trailing newline is kept
    assert (on_host.owner, on_host.mode) == ("deploy", "0644")
    assert remote.listing() == ["chrony.conf"]


def test_a_changed_variable_shows_in_the_diff_and_check_mode_leaves_the_file(remote, module_context, templates):
    dest = remote.path("chrony.conf")
    run_module("template", {"src": "chrony.conf.j2", "dest": dest}, context_for(module_context, templates))
    before = remote.look(dest)

    result = run_module("template", {"src": "chrony.conf.j2", "dest": dest},
                        context_for(module_context, templates, check=True, drift="/srv/drift"))

    assert result.status == "changed"
    assert result.diff.endswith("-driftfile /var/lib/chrony/drift\n+driftfile /srv/drift\n")
    assert remote.look(dest) == before


def test_an_undefined_variable_fails_the_task_naming_it_and_writes_nothing(remote, module_context, tmp_path):
    (tmp_path / "bad.j2").write_text("port={{ missing_port }}\n")
    dest = remote.path("bad.conf")
    templar = Templar({})
    result = run_module("template", {"src": "bad.j2", "dest": dest},
                        module_context(search_dirs=[str(tmp_path)], render_text=templar.render_text))
    assert result.status == "failed"
    assert "missing_port" in result.msg
    assert remote.look(dest).exists is False


def test_a_missing_template_fails_with_where_it_looked(remote, module_context, templates):
    result = run_module("template", {"src": "nope.j2", "dest": remote.path("x")},
                        context_for(module_context, templates))
    assert result.status == "failed" and "nope.j2" in result.msg and templates in result.msg


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


def test_newline_sequence_crlf(remote, module_context, tmp_path):
    (tmp_path / "win.j2").write_text("a\nb\n")
    dest = remote.path("win.ini")
    run_module("template", {"src": "win.j2", "dest": dest, "newline_sequence": "\r\n"},
               module_context(search_dirs=[str(tmp_path)], render_text=Templar({}).render_text))
    assert remote.look(dest).content == b"a\r\nb\r\n"
