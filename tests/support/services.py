"""A fake LSB init script for service tests: a `sleep` daemon that records starts and reloads."""
from tests.conftest import ssh

INIT_SCRIPT = r"""#!/bin/sh
### BEGIN INIT INFO
# Provides:          provfake
# Required-Start:    $remote_fs
# Required-Stop:     $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: fake daemon for provision tests
### END INIT INFO
PIDFILE=/run/provfake.pid
case "$1" in
  start) echo start >> /run/provfake.log
         start-stop-daemon --start --quiet --background --make-pidfile --pidfile $PIDFILE --exec /bin/sleep -- 100000 ;;
  stop) start-stop-daemon --stop --quiet --pidfile $PIDFILE --remove-pidfile --retry 5; [ $? -le 1 ] ;;
  restart|force-reload) "$0" stop; "$0" start ;;
  reload) echo reload >> /run/provfake.log ;;
  status) start-stop-daemon --status --pidfile $PIDFILE ;;
  *) echo "Usage: $0 {start|stop|restart|reload|status}" >&2; exit 3 ;;
esac
"""


def install_fake_service(sandbox, host: str, name: str = "provfake") -> str:
    script = INIT_SCRIPT.replace("provfake", name)
    ssh(sandbox, host, f"cat > /etc/init.d/{name} <<'EOF'\n{script}EOF\nchmod 755 /etc/init.d/{name}; "
        f"/etc/init.d/{name} stop >/dev/null 2>&1; update-rc.d -f {name} remove >/dev/null 2>&1; rm -f /run/{name}.log; true")
    return name


def is_running(sandbox, host: str, name: str = "provfake") -> bool:
    return ssh(sandbox, host, f"/etc/init.d/{name} status", check=False).returncode == 0


def boot_links(sandbox, host: str, name: str = "provfake") -> str:
    """'S' when started at boot, 'K' when disabled, '' when no links."""
    links = ssh(sandbox, host, f"ls /etc/rc2.d/ | grep {name} || true").stdout.strip()
    return links[:1]


def log(sandbox, host: str, name: str = "provfake") -> list[str]:
    return ssh(sandbox, host, f"cat /run/{name}.log 2>/dev/null || true").stdout.split()
