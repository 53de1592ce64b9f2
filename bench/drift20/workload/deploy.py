"""drift20 for pyinfra: the state of drift20.yaml written as pyinfra operations, one per task.

Run by the benchmark as `pyinfra INVENTORY deploy.py [--dry] -y` from this folder (the template's
path is relative to it). The process probe is a fact (`Command`), as pyinfra reads state: facts
are gathered in --dry runs too, where an operation such as server.shell would not run.
"""
from io import StringIO

from pyinfra import host
from pyinfra.facts.server import Command
from pyinfra.operations import apt, files, server

NOFILE, MODE = 65536, "fast"

for package in ("curl", "procps", "psmisc", "sudo"):
    apt.packages(name=f"package {package}", packages=[package])

files.directory(name="config folder", path="/etc/drift20", mode="755")
files.directory(name="data folder", path="/var/lib/drift20", mode="750")

for number in range(1, 7):
    files.put(name=f"file {number}", src=StringIO(f"managed by drift20: file {number}\n"),
              dest=f"/etc/drift20/file{number}.conf", mode="644")
files.put(name="file 7, private", src=StringIO("secret=drift20\n"), dest="/etc/drift20/file7.conf", mode="600")
files.put(name="file 8, per host", src=StringIO(f"host={host.name}\n"), dest="/var/lib/drift20/host.conf",
          mode="644")

files.template(name="config from a template", src="templates/app.conf.j2", dest="/etc/drift20/app.conf",
               mode="644", inventory_hostname=host.name, drift20_nofile=NOFILE, drift20_mode=MODE)

files.line(name="limits line", path="/etc/drift20/limits.conf", line=f"nofile={NOFILE}")
files.line(name="mode line, by regexp", path="/etc/drift20/limits.conf", line="^mode=.*", replace=f"mode={MODE}")

files.put(name="sysctl file", src=StringIO("vm.swappiness = 10\nnet.core.somaxconn = 4096\n"),
          dest="/etc/sysctl.d/60-drift20.conf", mode="644")

server.user(name="service user", user="drift20", system=True, shell="/usr/sbin/nologin",
            ensure_home=False, create_home=False)

# the process probe: read-only, so a fact (gathered in --dry runs too)
if not host.get_fact(Command, "pgrep -x sshd"):
    raise RuntimeError(f"{host.name}: sshd is not running")
