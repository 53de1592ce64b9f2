"""nvidia_container_toolkit's end state: four packages at one pinned version, held."""


def test_toolkit_packages_pinned_and_held(host, provision_vars):
    held = set(host.run("apt-mark showhold").stdout.split())
    for name in provision_vars["nvidia_container_toolkit_packages"]:
        package = host.package(name)
        assert package.is_installed, f"{name} is missing"
        assert package.version == provision_vars["nvidia_container_toolkit_version"], f"{name} {package.version}"
        assert name in held, f"{name} is not held"


def test_nvidia_ctk_answers(host):
    assert host.run("nvidia-ctk --version").rc == 0
