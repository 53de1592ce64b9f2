"""A named sandbox: a bridge, N hosts, and the files a user or test needs to reach them.

`up` writes an Ansible YAML inventory, an ssh_config and a known_hosts holding each host's real
key, so strict host-key checking stays on. State lives in one JSON file per sandbox; `down`
reads it and stops exactly what `up` started, which is also how a crashed run is cleaned up.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import yaml

from provision.errors import SandboxError
from provision.sandbox import system
from provision.sandbox.addressing import Network, allocate, indices_in_use, prefix_length_for
from provision.sandbox.aptproxy import DEFAULT_CACHE as APT_CACHE, AptProxy, apt_config_files
from provision.sandbox.host import SandboxHost
from provision.sandbox.image import SANDBOX_PASSWORD, ImageRecipe, ensure_image, ensure_layer
from provision.sandbox.kinds import KINDS
from provision.sandbox.os_identity import DEFAULT_OS, os_identity
from provision.sandbox.pytorch_image import DEFAULT_TAG, REPOSITORY, ensure_pytorch_layer
from provision.sandbox.registry import Registry, busybox_layer
from provision.sandbox.gpu_stack import gpu_stack_vars, standin_gpu_files, systemd_standin_files
from provision.sandbox.seed import seed
from provision.sandbox.standin.gpus import DEFAULT_PROFILE, STANDIN_TOOLS
from provision.sandbox.standin.repository import KEYRING_NAME
from provision.sandbox.standin.service import StandinInfo, StandinService

STATE_ROOT = os.environ.get("PROVISION_SANDBOX_ROOT", "/var/lib/provision/sandboxes")
# inotify instances one systemd host uses (systemd, journald, udev-less units: about 6; with room)
INOTIFY_PER_SYSTEMD_HOST = 16
# Hosts made ready at once by `up`: each is made (network, seed, start) and waited for by one
# worker, so a big sandbox boots in waves that answer within wait_ready's timeout, instead of
# 1,000 boots sharing the CPU and all finishing late.
STARTING_AT_ONCE = 24
# `down` stops this many hosts at once; each mostly waits for its processes to exit.
STOPPING_AT_ONCE = 32
# ARP entries the root network namespace holds without raising its thresholds (gc_thresh1's default).
NEIGHBOURS_UNRAISED = 128


@dataclass
class Sandbox:
    name: str
    index: int = 0  # the sandbox's first /24 in 10.244.0.0/16, and its bridge's number (addressing.py)
    prefix_length: int = 24  # 24 up to 244 hosts; 23 or 22 (2 or 4 /24s) for more
    kind: str = "plain"
    image_root: str = ""  # the overlay lower string: the kind's layer (if any), then the base image
    hosts: list[SandboxHost] = field(default_factory=list)
    root: str = STATE_ROOT
    registry_pid: int = 0
    standin_pid: int = 0  # the stand-in NVIDIA repository's server (provision/standin)
    gpus: str = DEFAULT_PROFILE  # the stand-in GPU hardware seeded into each host
    aptproxy_pid: int = 0  # the apt proxy on the bridge, started on demand (aptproxy.py)
    os_name: str = DEFAULT_OS  # the OS each host presents itself as (os_identity.py)

    # ---- files -----------------------------------------------------------------------------
    @property
    def directory(self) -> str:
        return os.path.join(self.root, self.name)

    @property
    def network(self) -> Network:
        return Network(self.index, self.prefix_length)

    @property
    def bridge(self) -> str:
        return self.network.bridge

    @property
    def gateway(self) -> str:
        return self.network.gateway

    @property
    def inventory_path(self) -> str:
        return os.path.join(self.directory, "inventory.yaml")

    @property
    def key_path(self) -> str:
        return os.path.join(self.directory, "id_ed25519")

    @property
    def known_hosts_path(self) -> str:
        return os.path.join(self.directory, "known_hosts")

    @property
    def ssh_config_path(self) -> str:
        return os.path.join(self.directory, "ssh_config")

    def host(self, name: str) -> SandboxHost:
        for host in self.hosts:
            if host.name == name:
                return host
        raise SandboxError(f"sandbox {self.name} has no host {name!r}; it has {', '.join(h.name for h in self.hosts)}")

    # ---- state -----------------------------------------------------------------------------
    def save(self) -> None:
        state = {"name": self.name, "index": self.index, "prefix_length": self.prefix_length, "kind": self.kind, "image_root": self.image_root,
                 "registry_pid": self.registry_pid, "standin_pid": self.standin_pid, "gpus": self.gpus, "aptproxy_pid": self.aptproxy_pid,
                 "os_name": self.os_name, "hosts": [host.to_dict() for host in self.hosts]}
        temporary = os.path.join(self.directory, "sandbox.json.tmp")
        with open(temporary, "w") as handle:
            json.dump(state, handle, indent=1)
        os.replace(temporary, os.path.join(self.directory, "sandbox.json"))

    @classmethod
    def load(cls, name: str, root: str = STATE_ROOT) -> Sandbox | None:
        path = os.path.join(root, name, "sandbox.json")
        if not os.path.exists(path):
            return None
        with open(path) as handle:
            state = json.load(handle)
        hosts = [SandboxHost(**host) for host in state.pop("hosts")]
        return cls(hosts=hosts, root=root, **state)

    @staticmethod
    def names(root: str = STATE_ROOT) -> list[str]:
        if not os.path.isdir(root):
            return []
        return sorted(entry for entry in os.listdir(root) if os.path.exists(os.path.join(root, entry, "sandbox.json")))

    # ---- lifecycle -------------------------------------------------------------------------
    @classmethod
    def up(cls, name: str = "default", hosts: int = 3, kind: str = "plain", root: str = STATE_ROOT,
           log=print, pytorch_image: bool = True, gpus: str = DEFAULT_PROFILE, apt_proxy: bool = False, os_name: str = DEFAULT_OS) -> Sandbox:
        """Start a sandbox; a docker one also gets its registry and (unless told not to) the
        stand-in `pytorch/pytorch:DEFAULT_TAG` image in it, built once and cached. With `apt_proxy`,
        the apt proxy starts and every host's apt goes through it. `os_name` is the OS the hosts
        present themselves as (debian12, ubuntu22.04, ubuntu24.04; see os_identity.py)."""
        os_identity(os_name)  # a clear error before anything is made
        system.check_requirements()
        if kind not in KINDS:
            raise SandboxError(f"sandbox kind {kind!r} is not available; available: {', '.join(KINDS)}")
        prefix_length_for(hosts)  # a clear error for a count no block holds
        spec = KINDS[kind]
        if spec.systemd:
            system.check_tool("systemd-nspawn", "systemd-container")
        stale = cls.load(name, root)
        if stale is not None:
            log(f"sandbox {name} exists already; stopping it first")
            stale.down()
        # a run that crashed after its state file was gone (or before it was written) may have left
        # processes and cgroups of this name: the new hosts must not join them
        system.remove_sandbox_cgroups(name)
        with _allocation_lock(root):
            # the block is taken once the state file names it: another `up` waits, then sees it
            network = allocate(hosts, indices_taken(root))
            sandbox = cls(name=name, kind=kind, root=root, index=network.index, prefix_length=network.prefix_length,
                          gpus=gpus, os_name=os_name)
            sandbox.hosts = sandbox.plan_hosts(hosts)
            os.makedirs(sandbox.directory, exist_ok=True)
            sandbox.save()  # from here on, `down` can clean up whatever gets made
            _fit_neighbour_table(root)
        sandbox.image_root = ensure_layer(spec.layer, log=log) if spec.layer else ensure_image(ImageRecipe(), log=log)
        sandbox._create_bridge()
        sandbox._create_client_key()
        if spec.docker:
            sandbox.start_registry()
            if pytorch_image:
                sandbox.push_pytorch_image(log=log)
        sandbox.start_standin()
        if apt_proxy:
            sandbox.start_apt_proxy()
        if spec.systemd:
            system.raise_inotify_instances(hosts * INOTIFY_PER_SYSTEMD_HOST, root)
        # this machine's side of every host's network in one `ip` process, then each host by a worker
        system.ip_batch([line for host in sandbox.hosts for line in host.network_commands(sandbox.bridge)])
        files = sandbox._seed_files()

        def make_ready(host: SandboxHost) -> None:
            host.configure_network(sandbox.prefix_length)
            seed(host, sandbox.key_path, sandbox.image_root, sandbox.registry, files, diverted=STANDIN_TOOLS)
            host.start(sandbox.image_root)
            host.wait_ready()

        pool = ThreadPoolExecutor(max_workers=STARTING_AT_ONCE)
        try:
            list(pool.map(make_ready, sandbox.hosts))
        finally:
            pool.shutdown(cancel_futures=True)  # after a failure, start no more hosts
            sandbox.save()  # the supervisors' PIDs (`down` finds the hosts by their cgroups anyway)
        sandbox._write_client_files()
        return sandbox

    def plan_hosts(self, count: int) -> list[SandboxHost]:
        """The hosts' names, addresses and interfaces: `host01`... (`host001`... from 100 hosts on, so
        names sort as they count), addresses in order across the sandbox's block."""
        width = max(2, len(str(count)))
        hosts = []
        for number in range(1, count + 1):
            host_name = f"host{number:0{width}d}"
            hosts.append(SandboxHost(
                name=host_name, sandbox=self.name, address=self.network.host_address(number),
                netns=f"pv{self.index}-{host_name}", veth=f"pv{self.index}h{number}",
                directory=os.path.join(self.directory, "hosts", host_name), kind=self.kind))
        return hosts

    def down(self) -> None:
        """Stop everything `up` started and remove it. Whatever will not stop is named in the
        error, and the state file stays, so `down` run again (or `up` of this name) retries."""
        problems = []
        with ThreadPoolExecutor(max_workers=STOPPING_AT_ONCE) as pool:
            for found in pool.map(_stop_and_remove, self.hosts):
                problems += found
        self._remove_host_networks()
        problems += _attempt(lambda: self.registry.stop(self.registry_pid))
        self.registry_pid = 0
        StandinService.stop(self.standin_pid)
        self.standin_pid = 0
        problems += _attempt(self.stop_apt_proxy)
        if not problems:  # (else they are named already; the next `down` tries again)
            # anything else below the sandbox's cgroup (what a crashed run of this name left there)
            problems += _attempt(lambda: system.remove_sandbox_cgroups(self.name))
        system.run("ip", "link", "del", self.bridge, check=False)
        if problems:
            if os.path.isdir(self.directory):
                self.save()
            raise SandboxError(f"sandbox {self.name} is not fully down:\n" + "\n".join(problems)
                               + f"\nonce those processes have exited, run `provision sandbox down --name {self.name}` again")
        shutil.rmtree(self.directory, ignore_errors=True)
        with _allocation_lock(self.root):
            _fit_neighbour_table(self.root)
        if self.kind == "systemd":
            others = (Sandbox.load(name, self.root) for name in Sandbox.names(self.root))
            system.restore_inotify_instances(self.root, still_needed=any(
                other is not None and other.kind == "systemd" for other in others))

    # ---- the stand-in NVIDIA repository ------------------------------------------------------
    @property
    def standin_dir(self) -> str:
        return os.path.join(self.directory, "standin")

    def start_standin(self) -> StandinInfo:
        """Serve the stand-in NVIDIA repository on the bridge unless it runs (built once, cached)."""
        info = StandinService.info(self.standin_dir)
        if info is None:
            self.standin_pid = StandinService.start(self.gateway, self.standin_dir)
            self.save()
            info = StandinService.info(self.standin_dir)
        if info is None:
            raise SandboxError(f"the stand-in repository did not start; see {self.standin_dir}/standin.log")
        return info

    # ---- the apt proxy -----------------------------------------------------------------------
    @property
    def apt_proxy(self) -> AptProxy:
        return AptProxy(sandbox=self.name, directory=os.path.join(self.directory, "aptproxy"), address=self.gateway)

    def start_apt_proxy(self, upstreams: list[str] | None = None, cache_dir: str = APT_CACHE) -> str:
        """Start the apt proxy on the bridge unless it runs; returns its URL (apt's `Acquire::http::Proxy`).

        It forwards only to `upstreams`, by default the sources of this machine's own apt. Hosts
        seeded while it runs (`up(apt_proxy=True)`, `fresh`) have their apt pointed at it.
        """
        proxy = self.apt_proxy
        if not proxy.running(self.aptproxy_pid):
            self.aptproxy_pid = proxy.start(upstreams, cache_dir)
            self.save()
            if self.hosts and os.path.exists(self.inventory_path):
                self._write_client_files()  # the inventory gains `sandbox_apt_proxy`
        return proxy.url

    def stop_apt_proxy(self) -> None:
        self.apt_proxy.stop(self.aptproxy_pid)
        if self.aptproxy_pid:
            self.aptproxy_pid = 0
            if os.path.isdir(self.directory):
                self.save()

    def _seed_files(self) -> dict[str, bytes]:
        """Files every host gets: its OS identity (on Ubuntu with the stand-in archive's source), its
        stand-in GPUs (on systemd hosts with what plays the kernel's and udev's part for them at
        boot) and, while the apt proxy runs, apt's proxy setting."""
        identity = os_identity(self.os_name)
        files = dict(identity.seed_files())
        if identity.archive_suite:
            standin = self.start_standin()
            with open(os.path.join(standin.root, KEYRING_NAME), "rb") as handle:
                files.update(identity.archive_files(standin.archive_url, handle.read()))
        files.update(standin_gpu_files(self.gpus))
        if KINDS[self.kind].systemd:
            files.update(systemd_standin_files())
        if self.apt_proxy.running(self.aptproxy_pid):
            files.update(apt_config_files(self.apt_proxy.url, direct=(self.gateway,)))
        return files

    # ---- the registry ------------------------------------------------------------------------
    @property
    def registry(self) -> Registry:
        return Registry(sandbox=self.name, directory=os.path.join(self.directory, "registry"), address=self.gateway)

    def start_registry(self) -> Registry:
        """Start the sandbox registry on the bridge unless it runs; docker hosts pull from it."""
        registry = self.registry
        if not (self.registry_pid and system.command_of(self.registry_pid).startswith("docker-registry")):
            self.registry_pid = registry.start()
            self.save()
        return registry

    def push_image(self, name: str = "busybox", tag: str = "sandbox") -> str:
        """Put a tiny busybox image, made from the base image's files, into the sandbox registry.

        Pushed as `library/NAME`, so `docker pull NAME:TAG` on a docker host finds it through the
        registry mirror. Returns `NAME:TAG`.
        """
        base_root = self.image_root.split(":")[-1]
        self.start_registry().push(f"library/{name}", tag, busybox_layer(base_root), ["/bin/sh"])
        return f"{name}:{tag}"

    def push_pytorch_image(self, tag: str = DEFAULT_TAG, log=print) -> str:
        """Put the stand-in `pytorch/pytorch:TAG` (Debian's Python, CPU torch) into the sandbox registry.

        Docker hosts then `docker pull pytorch/pytorch:TAG` from it through the registry mirror, as
        a real host would from Docker Hub. The image is labelled as a stand-in. Returns the name.
        """
        layer = ensure_pytorch_layer(log=log)
        started = time.monotonic()
        self.start_registry().push_layer_file(REPOSITORY, tag, layer, ["python3"], layer.labels, layer.env)
        log(f"pushed the stand-in {REPOSITORY}:{tag} ({layer.size / 2**20:.0f} MiB, CPU torch) to the sandbox "
            f"registry in {time.monotonic() - started:.1f}s")
        return f"{REPOSITORY}:{tag}"

    def fresh(self, name: str) -> SandboxHost:
        """Restart one host with an empty overlay upper folder: as new, same address and key."""
        host = self.host(name)
        host.stop()
        host.wipe()
        seed(host, self.key_path, self.image_root, self.registry, self._seed_files(), diverted=STANDIN_TOOLS)
        host.start(self.image_root)
        self.save()
        host.wait_ready()
        return host

    def restart(self, name: str) -> SandboxHost:
        """Restart one host keeping its disk (what a power cycle would do)."""
        host = self.host(name)
        host.stop()
        host.start(self.image_root)
        self.save()
        host.wait_ready()
        return host

    def password_only(self, password: str) -> None:
        """Make every host take only a password for root, as a new server from the rack does, to
        rehearse `provision onboard` (it installs the inventory's key again). The password travels
        on ssh's stdin, never on a command line."""
        script = ("set -e\n"
                  "printf 'PasswordAuthentication yes\\nPermitRootLogin yes\\n' > /etc/ssh/sshd_config.d/00-password-only.conf\n"
                  "IFS= read -r password\n"
                  "printf 'root:%s\\n' \"$password\" | chpasswd\n"
                  "rm -f /root/.ssh/authorized_keys\n"
                  "kill -HUP \"$(cat /run/sshd.pid)\"\n")
        for host in self.hosts:
            try:
                done = subprocess.run(["ssh", "-F", self.ssh_config_path, "-l", "root", host.name,
                                       f"sh -c {shlex.quote(script)}"], input=password + "\n", capture_output=True,
                                      text=True, timeout=60)
            except subprocess.TimeoutExpired:
                raise SandboxError(f"{host.name}: no answer within 60 s while switching to password-only login") from None
            if done.returncode != 0:
                raise SandboxError(f"{host.name}: could not switch to password-only login: {done.stderr.strip()}")

    def status(self) -> list[dict]:
        rows = []
        for host in self.hosts:
            memory = None
            for directory in system.cgroup_dirs(self.name, host.name):
                usage = os.path.join(directory, "memory.usage_in_bytes")
                if os.path.exists(usage):
                    memory = int(open(usage).read())
            rows.append({"host": host.name, "address": host.address, "running": host.alive(),
                         "memory_bytes": memory})
        return rows

    # ---- pieces ----------------------------------------------------------------------------
    def _create_bridge(self) -> None:
        system.run("ip", "link", "del", self.bridge, check=False)  # left by a crashed run
        system.run("ip", "link", "add", self.bridge, "type", "bridge")
        system.run("ip", "addr", "add", f"{self.gateway}/{self.prefix_length}", "dev", self.bridge)
        system.run("ip", "link", "set", self.bridge, "up")

    def _remove_host_networks(self, timeout: float = 10.0) -> None:
        """Remove the hosts' network namespaces, then any veth still there.

        Deleting a namespace takes its veth pair with it, in one batch in the kernel (0.2 s for
        1,000); `ip link del` of each veth costs the kernel ~18 ms apiece, 18 s for 1,000. So veths are
        deleted one by one only where their namespace outlived its mount (a process kept it)."""
        system.ip_batch([f"netns del {host.netns}" for host in self.hosts], check=False)
        deadline = time.monotonic() + system.patience(timeout)
        left = [host for host in self.hosts if os.path.exists(f"/sys/class/net/{host.veth}")]
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = [host for host in left if os.path.exists(f"/sys/class/net/{host.veth}")]
        if left:
            system.ip_batch([f"link del {host.veth}" for host in left], check=False)

    def _create_client_key(self) -> None:
        if not os.path.exists(self.key_path):
            system.run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"provision-sandbox-{self.name}",
                       "-f", self.key_path)

    def _write_client_files(self) -> None:
        known = []
        config = []
        for host in self.hosts:
            with open(os.path.join(host.directory, "ssh_host_ed25519_key.pub")) as handle:
                key_type, key = handle.read().split()[:2]
            known.append(f"{host.address} {key_type} {key}")
            config.append(f"Host {host.name}\n  HostName {host.address}\n  User root\n"
                          f"  IdentityFile {self.key_path}\n  IdentitiesOnly yes\n"
                          f"  UserKnownHostsFile {self.known_hosts_path}\n  StrictHostKeyChecking yes\n")
        with open(self.known_hosts_path, "w") as handle:
            handle.write("\n".join(known) + "\n")
        with open(self.ssh_config_path, "w") as handle:
            handle.write("\n".join(config))
        inventory = {"all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": self.key_path,
                "provision_known_hosts_file": self.known_hosts_path,
                "sandbox_name": self.name,
                "sandbox_gateway": self.gateway,
                # the `deploy` user's sudo password, for playbooks that test become with a password
                "sandbox_sudo_password": SANDBOX_PASSWORD,
                **({"sandbox_apt_proxy": self.apt_proxy.url} if self.apt_proxy.running(self.aptproxy_pid) else {}),
            },
            "children": {
                "sandbox": {"hosts": {host.name: {"ansible_host": host.address} for host in self.hosts}},
                # the site playbook targets `gpu`; its roles reach the stand-ins through these vars
                "gpu": {"children": {"sandbox": {}}, "vars": gpu_stack_vars(self.start_standin())},
            },
        }}
        with open(self.inventory_path, "w") as handle:
            handle.write(f"# written by `provision sandbox up --name {self.name}`: throwaway hosts.\n"
                         "# The gpu group's vars point the GPU roles at the sandbox's STAND-INS (no GPU, no\n"
                         "# NVIDIA servers here): see provision/sandbox/gpu_stack.py for each one and why.\n")
            yaml.safe_dump(inventory, handle, sort_keys=False)


def _attempt(step) -> list[str]:
    """Run one step of `down`; its error as a list of one line, so the other steps still run."""
    try:
        step()
    except SandboxError as error:
        return [f"  - {error}"]
    return []


def _stop_and_remove(host: SandboxHost) -> list[str]:
    """Stop one host and remove its folder (its disk: thousands of files for a big sandbox, so
    removed by the workers, side by side, rather than by one rmtree at the end)."""
    problems = _attempt(host.stop)
    if not problems:
        shutil.rmtree(host.directory, ignore_errors=True)
    return problems


def _allocation_lock(root: str):
    """One `up` at a time picks a bridge index: other processes may start sandboxes right now."""
    return system.file_lock(os.path.join(root, ".allocation.lock"))


def indices_taken(root: str) -> set[int]:
    """The /24s of 10.244.0.0/16 in use: every sandbox's block its state names, every block an
    address on this machine covers, and every `pvbr<i>` bridge's own number (a crashed run's)."""
    taken = indices_in_use(system.run("ip", "-o", "-4", "addr", "show").stdout)
    for name in Sandbox.names(root):
        sandbox = Sandbox.load(name, root)
        if sandbox:
            taken.update(sandbox.network.indices)
    taken.update(int(entry[4:]) for entry in os.listdir("/sys/class/net")
                 if entry.startswith("pvbr") and entry[4:].isdigit())
    return taken


def _fit_neighbour_table(root: str) -> None:
    """Raise the ARP table's thresholds by the hosts of all sandboxes while they total more than
    NEIGHBOURS_UNRAISED, and restore this machine's own values once they do not (under the
    allocation lock: the total must not change meanwhile)."""
    sandboxes = (Sandbox.load(name, root) for name in Sandbox.names(root))
    total = sum(len(sandbox.hosts) for sandbox in sandboxes if sandbox is not None)
    if total > NEIGHBOURS_UNRAISED:
        system.raise_neighbour_thresholds(total, root)
    else:
        system.restore_neighbour_thresholds(root)
