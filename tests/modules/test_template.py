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


def test_delimiters_newlines_encoding_a_folder_dest_and_follow_as_ansibles(remote, module_context, tmp_path):
    """What Ansible's template takes beyond the text: other Jinja2 delimiters, `newline_sequence`
    as YAML gives it ('\\r\\n' in single quotes: backslashes), `output_encoding`, a folder as dest
    (the file takes the template's name) and `follow` through a link."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "custom.j2").write_text("<# not shown #>[% for n in ntp_servers %]<< n >>\n[% endfor %]")
    (tmp_path / "templates" / "café.j2").write_text("prix: {{ price }} €\n")
    custom = {"variable_start_string": "<<", "variable_end_string": ">>", "block_start_string": "[%",
              "block_end_string": "%]", "comment_start_string": "<#", "comment_end_string": "#>"}
    context = context_for(module_context, str(tmp_path), price="12,50")
    made = run_module("template", {"src": "custom.j2", "dest": remote.path("custom"), **custom,
                                   "newline_sequence": "\\r\\n"}, context)
    assert made.status == "changed", made.msg
    assert remote.sh(f"od -c {remote.path('custom')} | head -2").split()[1:9] == ["a", ".", "l", "a", "b", "\\r",
                                                                                  "\\n", "b"]
    encoded = run_module("template", {"src": "café.j2", "dest": remote.path("cp1252.txt"),
                                      "output_encoding": "windows-1252"}, context)
    assert encoded.status == "changed", encoded.msg
    assert remote.sh(f"od -An -tx1 {remote.path('cp1252.txt')}").split()[-3:] == ["20", "80", "0a"], "€ in cp1252"
    remote.sh(f"mkdir {remote.path('conf.d')} && ln -s {remote.path('real.conf')} {remote.path('link.conf')} "
              f"&& echo old > {remote.path('real.conf')}")
    into = run_module("template", {"src": "café.j2", "dest": remote.path("conf.d")}, context)
    assert into.status == "changed" and remote.look(remote.path("conf.d/café.j2")).text == "prix: 12,50 €\n"
    through = run_module("template", {"src": "café.j2", "dest": remote.path("link.conf"), "follow": True}, context)
    assert through.status == "changed", through.msg
    assert remote.sh(f"readlink {remote.path('link.conf')}; cat {remote.path('real.conf')}") == \
        f"{remote.path('real.conf')}\nprix: 12,50 €\n", "the link kept, its file written"
    again = run_module("template", {"src": "café.j2", "dest": remote.path("link.conf"), "follow": True}, context)
    assert again.status == "ok"


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
