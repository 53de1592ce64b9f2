"""Benchmark drift20: a converged fleet checked by provision, pyinfra and Ansible, and the SSH floor.

drift20 is 20 idempotent checks per host (4 packages, 2 directories, 8 files, a template, 2
lineinfile, a sysctl.d file, a user, a process probe): workload/drift20.yaml in plain Ansible
syntax, run unchanged by provision and ansible-playbook, and workload/deploy.py, the same state as
pyinfra operations. For each N the benchmark starts N `python` sandbox hosts (Debian's python3 for
Ansible; sshd logging each session), converges them with every tool, checks that each tool's
second run changes nothing, gates correctness (one managed file changed on every 10th host: each
tool's check must name exactly those hosts and that task; a tool that fails is reported, not
timed), then times R interleaved rounds of each tool's check as a user types it, counting the exec
channels each opens per host on the hosts' side. Results: bench/results/drift20.md, .json, .png.

    .venv/bin/python -m bench.drift20 --hosts 10 50 [--runs 5] [--tools provision,pyinfra,ansible,floor]
"""
