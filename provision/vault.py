"""Ansible Vault: files and `!vault` values encrypted by ansible-vault, decrypted with the user's passwords.

The format is Ansible's `$ANSIBLE_VAULT;1.1;AES256` (1.2 adds a vault-id label): the lines after
the header are the hex of `hex(salt)\\nhex(hmac)\\nhex(ciphertext)`; PBKDF2-HMAC-SHA256 of the
password and salt (10,000 rounds, 80 bytes) gives the AES-256 key, the HMAC-SHA256 key and the CTR
counter; the HMAC of the ciphertext is checked before anything is decrypted, and the plaintext is
PKCS#7-padded. A wrong password is told apart from a damaged file by that HMAC.

The passwords come from --vault-password-file / --vault-id (a file, or an executable that prints
it, as Ansible runs it) or --ask-vault-pass, and live in a Vault for the length of one command:
`using(vault)` makes it the one loading and running see (a context variable, copied into the host
threads). Every value it decrypts is remembered, so a task whose output or message shows one is
reported as no_log.
"""
from __future__ import annotations

import binascii
import contextvars
import hashlib
import hmac
import os
import stat
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

from provision.errors import InputError, Mark

HEADER = "$ANSIBLE_VAULT;"
ACTIVE: contextvars.ContextVar[Vault | None] = contextvars.ContextVar("provision_vault", default=None)
HIDDEN = "********"


# what to do when a vaulted text comes without a password
NO_PASSWORD = "give its password with --vault-password-file FILE or --ask-vault-pass (or $ANSIBLE_VAULT_PASSWORD_FILE)"


class VaultError(InputError):
    """A vaulted file or value that cannot be decrypted: no password, a wrong one, a damaged text."""


class VaultedStr(str):
    """A decrypted `!vault` value or vault file's text: a string, known to be a secret."""


@dataclass
class Vault:
    """The passwords of one command, by vault-id label (None: unlabelled), and what they revealed."""

    passwords: list[tuple[str | None, bytes]] = field(default_factory=list)
    revealed: set[str] = field(default_factory=set)

    def decrypt(self, text: str, mark: Mark, remember: bool = True) -> VaultedStr:
        plain = self.decrypt_bytes(text, mark)
        try:
            value = VaultedStr(plain.decode("utf-8"))
        except UnicodeDecodeError:
            raise VaultError("the decrypted vault is not UTF-8 text", mark) from None
        if remember:
            self.remember(value)
        return value

    def decrypt_bytes(self, text: str, mark: Mark) -> bytes:
        """The plaintext's bytes, whatever they are (copy's `decrypt` of a vaulted file)."""
        if not self.passwords:
            raise VaultError(f"this is vault-encrypted: {NO_PASSWORD}", mark)
        label, body = envelope(text, mark)
        candidates = sorted(self.passwords, key=lambda entry: entry[0] != label)  # its own label first
        for _, password in candidates:
            plain = decrypt_body(body, password, mark)
            if plain is not None:
                return plain
        raise VaultError(f"decryption failed: no vault password given fits it{f' (vault id {label})' if label else ''}",
                         mark)

    def remember(self, value: object) -> None:
        """Note the secrets in a decrypted value (each text of a vault file's data)."""
        if isinstance(value, str):
            if len(value.strip()) >= 4:  # shorter ones would hide ordinary words everywhere
                self.revealed.add(value.strip())
        elif isinstance(value, dict):
            for item in value.values():
                self.remember(item)
        elif isinstance(value, list):
            for item in value:
                self.remember(item)

    def hides(self, text: str) -> bool:
        return any(secret and secret in text for secret in self.revealed)


def is_vaulted(text: str) -> bool:
    return text.lstrip().startswith(HEADER)


def envelope(text: str, mark: Mark) -> tuple[str | None, bytes]:
    """(vault-id label, the body's bytes: salt, hmac and ciphertext lines) of a vault text."""
    lines = text.strip().splitlines()
    fields = lines[0].strip().split(";")
    if len(fields) < 3 or fields[0] != HEADER[:-1] or fields[1] not in ("1.1", "1.2") or fields[2] != "AES256":
        raise VaultError(f"unknown vault format {lines[0].strip()[:60]!r} (provision reads 1.1 and 1.2, AES256)", mark)
    label = fields[3] if len(fields) > 3 and fields[1] == "1.2" else None
    try:
        body = binascii.unhexlify("".join(line.strip() for line in lines[1:]))
    except (binascii.Error, ValueError):
        raise VaultError("the vault text is damaged (not hexadecimal)", mark) from None
    return label, body


def decrypt_body(body: bytes, password: bytes, mark: Mark) -> bytes | None:
    """The plaintext, or None when the password does not fit (the HMAC differs)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    parts = body.split(b"\n")
    if len(parts) != 3:
        raise VaultError("the vault text is damaged (expected salt, hmac and ciphertext)", mark)
    try:
        salt, expected, ciphertext = (binascii.unhexlify(part) for part in parts)
    except (binascii.Error, ValueError):
        raise VaultError("the vault text is damaged (not hexadecimal)", mark) from None
    derived = hashlib.pbkdf2_hmac("sha256", password, salt, 10000, dklen=80)
    key, hmac_key, counter = derived[:32], derived[32:64], derived[64:]
    if not hmac.compare_digest(hmac.new(hmac_key, ciphertext, hashlib.sha256).digest(), expected):
        return None
    decryptor = Cipher(algorithms.AES(key), modes.CTR(counter)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    pad = padded[-1] if padded else 0
    if not 1 <= pad <= 16 or padded[-pad:] != bytes([pad]) * pad:
        raise VaultError("the vault text is damaged (bad padding)", mark)
    return padded[:-pad]


def password_from_file(spec: str) -> tuple[str | None, bytes]:
    """`[label@]FILE`: the file's first line, or what it prints when it is executable (Ansible's
    password script); a missing or empty one is a clear error."""
    label, at, path = spec.partition("@")
    if not at:
        label, path = None, spec
    path = os.path.expanduser(path)
    try:
        mode = os.stat(path).st_mode
        if mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH) and not stat.S_ISDIR(mode):
            done = subprocess.run([path], capture_output=True, timeout=60)
            if done.returncode != 0:
                raise VaultError(f"vault password script exited {done.returncode}: "
                                 f"{done.stderr.decode('utf-8', 'replace').strip()[:200]}", Mark(path))
            secret = done.stdout
        else:
            with open(path, "rb") as handle:
                secret = handle.read(65536)
    except OSError as error:
        raise VaultError(f"cannot read the vault password file: {error.strerror or error}", Mark(path)) from None
    except subprocess.TimeoutExpired:
        raise VaultError("the vault password script ran for more than 60 s", Mark(path)) from None
    secret = secret.split(b"\n")[0].rstrip(b"\r")
    if not secret:
        raise VaultError("the vault password file is empty", Mark(path))
    return label, secret


@contextmanager
def using(vault: Vault | None) -> Iterator[Vault | None]:
    """Make `vault` the one that loading and the run see, for the duration."""
    token = ACTIVE.set(vault)
    try:
        yield vault
    finally:
        ACTIVE.reset(token)


def active() -> Vault | None:
    return ACTIVE.get()


def decrypt_text(text: str, mark: Mark, remember: bool = True) -> str:
    """A vault text decrypted (a `!vault` value is remembered as a secret; a whole file's
    values are, by `remember_values`, once parsed), anything else unchanged."""
    if not is_vaulted(text):
        return text
    vault = active() or Vault()
    return vault.decrypt(text, mark, remember)


def remember_values(data: object) -> None:
    vault = active()
    if vault is not None:
        vault.remember(data)
