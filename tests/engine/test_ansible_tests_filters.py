"""Ansible's result tests and list filters that real roles use (DeepOps writes `is successful`,
`is unreachable`, `zip_longest`), through provision's own Jinja2 environment, as a template renders
them. Their meaning is Ansible's documented one (Ansible docs, "Tests" and "Filters")."""
from __future__ import annotations

import pytest

from provision.templating import Templar

RESULTS = {
    "ok": {"changed": False, "failed": False},
    "bad": {"changed": False, "failed": True, "msg": "x"},
    "gone": {"unreachable": True, "failed": False},
    "waiting": {"finished": 0, "ansible_job_id": "1"},
}


@pytest.mark.parametrize("expression, expected", [
    ("ok is successful", True), ("bad is successful", False), ("ok is succeeded", True), ("bad is success", False),
    ("gone is unreachable", True), ("ok is unreachable", False), ("ok is reachable", True),
    ("gone is reachable", False),
    ("ok is finished", True), ("waiting is finished", False),
])
def test_result_tests(expression, expected):
    assert Templar(RESULTS).render("{{ " + expression + " }}") is expected


def test_zip_longest_pads_with_fillvalue():
    templar = Templar({"a": [1, 2, 3], "b": ["x"]})
    assert templar.render("{{ a | zip_longest(b) | list }}") == [[1, "x"], [2, None], [3, None]]
    assert templar.render("{{ a | zip_longest(b, fillvalue='-') | list }}") == [[1, "x"], [2, "-"], [3, "-"]]


def test_password_hash_is_glibcs_sha512_crypt():
    from provision.templating import Templar, TemplateError

    templar = Templar({"pw": "Hello world!"})
    # the test vectors of Ulrich Drepper's SHA-crypt specification
    assert templar.render("{{ pw | password_hash('sha512', 'saltstring') }}") == (
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1")
    assert templar.render("{{ pw | password_hash('sha512', 'saltstringsaltstring', rounds=10000) }}") == (
        "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs"
        "/y3RnOaw5v.")
    fresh = templar.render("{{ pw | password_hash('sha512') }}")
    assert fresh.startswith("$6$") and len(fresh.split("$")[2]) == 16
    for bad in ("{{ pw | password_hash('md5') }}", "{{ pw | password_hash('sha512', 'salt!') }}",
                "{{ pw | password_hash('sha512', 'abc', rounds=10**9) }}"):
        with pytest.raises(TemplateError):
            templar.render(bad)


def test_unique_is_a_list_and_random_takes_a_number():
    """Ansible's own `unique` (Jinja2's yields a generator, which never equals a list) and
    `random` (an int: a number below it; `seed` repeats it), as ansible-core's copy target uses."""
    templar = Templar({"flags": [True, True], "names": ["a", "B", "b", "a"]})
    assert templar.render("{{ flags | unique == [true] }}") is True
    assert templar.render("{{ names | unique }}") == ["a", "B"]
    assert templar.render("{{ names | unique(case_sensitive=true) }}") == ["a", "B", "b"]
    picks = {templar.render("{{ 5 | random }}") for _ in range(60)}
    assert picks <= {0, 1, 2, 3, 4} and len(picks) > 1
    assert templar.render("{{ 1000 | random(seed='host01') }}") == templar.render("{{ 1000 | random(seed='host01') }}")
    assert templar.render("{{ 10 | random(start=5, step=5) }}") == 5


def test_the_password_lookup_gives_a_new_one_for_dev_null_and_writes_nothing():
    """lookup('password', '/dev/null'): 20 characters of letters, digits and .,:-_ (Ansible's
    defaults), new each time; any other path would store it on the controller: refused by name."""
    templar = Templar({})
    first, second = (templar.render("{{ lookup('password', '/dev/null') }}") for _ in range(2))
    assert len(first) == 20 and first != second
    assert set(first) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,:-_")
    assert set(templar.render("{{ lookup('password', '/dev/null length=12 chars=digits') }}")) <= set("0123456789")
    with pytest.raises(Exception, match="would keep the password in a file on the controller"):
        templar.render("{{ lookup('password', 'credentials/admin') }}")
