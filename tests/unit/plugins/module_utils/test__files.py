# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""sidecar_files' logic: the hosts block as blockinfile writes it, modes, and the steps applied to
a temporary directory (the current user as owner: no root needed), check mode writing nothing."""
from __future__ import annotations

import base64
import grp
import hashlib
import os
import pwd
import stat

import pytest

from ansible_collections.meshops.istio_vm.plugins.module_utils._files import (
    SECRET_AFTER, ChecksumMismatch, Files, FilesError, attribute_diff, hosts_with_block, parse_mode,
    pem_certificates, read_regular, read_text, shares_certificate, untrusted_writers)

MARKER = "# {mark} meshops.istio_vm istiod"
BEGIN, END = "# BEGIN meshops.istio_vm istiod\n", "# END meshops.istio_vm istiod\n"
HOSTS = "127.0.0.1 localhost\n::1 localhost\n"
BLOCK = "10.213.0.1 istiod.istio-system.svc"
ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


@pytest.mark.parametrize("text,block,expected", [
    # appended at the end, as blockinfile's insertafter=EOF
    (HOSTS, BLOCK, HOSTS + BEGIN + BLOCK + "\n" + END),
    ("", BLOCK, BEGIN + BLOCK + "\n" + END),
    # a last line without its newline gets one
    ("127.0.0.1 localhost", BLOCK, "127.0.0.1 localhost\n" + BEGIN + BLOCK + "\n" + END),
    # the block blockinfile wrote: unchanged, not a second one
    (HOSTS + BEGIN + BLOCK + "\n" + END, BLOCK, HOSTS + BEGIN + BLOCK + "\n" + END),
    (HOSTS + BEGIN + BLOCK + "\n" + END, BLOCK + "\n", HOSTS + BEGIN + BLOCK + "\n" + END),
    # replaced where it is, lines after it kept
    (HOSTS + BEGIN + "10.0.0.9 old\n" + END + "10.1.1.1 mine\n", BLOCK,
     HOSTS + BEGIN + BLOCK + "\n" + END + "10.1.1.1 mine\n"),
    # markers in the wrong order: the lines between are still the block
    (HOSTS + END + "old\n" + BEGIN, BLOCK, HOSTS + BEGIN + BLOCK + "\n" + END),
    # only one marker: not a block, a new one is appended
    (HOSTS + BEGIN, BLOCK, HOSTS + BEGIN + BEGIN + BLOCK + "\n" + END),
    # a marker inside a longer line is not a marker
    (HOSTS + "x" + BEGIN + "x" + END, BLOCK, HOSTS + "x" + BEGIN + "x" + END + BEGIN + BLOCK + "\n" + END),
    # several lines
    (HOSTS, "a\nb", HOSTS + BEGIN + "a\nb\n" + END),
    # an empty block removes the block and its markers
    (HOSTS + BEGIN + BLOCK + "\n" + END + "z\n", "", HOSTS + "z\n"),
    (HOSTS, "", HOSTS),
    # the END marker is the last line, without its newline: still the block, replaced, not a second one
    (HOSTS + BEGIN + "10.0.0.9 old\n" + END.rstrip("\n"), BLOCK, HOSTS + BEGIN + BLOCK + "\n" + END),
    (HOSTS + BEGIN + "10.0.0.9 old\n" + END.rstrip("\n"), "", HOSTS),
    # CRLF line endings (a file edited on Windows): the markers still match; other lines are kept as they are
    ("127.0.0.1 localhost\r\n" + BEGIN.replace("\n", "\r\n") + "10.0.0.9 old\r\n" + END.replace("\n", "\r\n")
     + "10.1.1.1 mine\r\n", BLOCK,
     "127.0.0.1 localhost\r\n" + BEGIN + BLOCK + "\n" + END + "10.1.1.1 mine\r\n"),
])
def test_hosts_with_block(text, block, expected):
    assert hosts_with_block(text, MARKER, block) == expected
    assert hosts_with_block(expected, MARKER, block) == expected, "not idempotent"


def test_hosts_with_block_needs_the_mark():
    with pytest.raises(FilesError, match="mark"):
        hosts_with_block(HOSTS, "# meshops", BLOCK)


@pytest.mark.parametrize("mode,expected", [
    (None, None), ("0640", 0o640), ("640", 0o640), ("0o600", 0o600), (0o755, 0o755), (416, 0o640), ("01777", 0o1777),
])
def test_parse_mode(mode, expected):
    assert parse_mode(mode) == expected


@pytest.mark.parametrize("mode", ["u+rw", "0999", "", True, 0o17777, -1])
def test_parse_mode_refuses(mode):
    with pytest.raises(FilesError):
        parse_mode(mode)


@pytest.mark.parametrize("current,wanted,expected", [
    (None, {"owner": "a", "group": None, "mode": "0600"}, {"owner": "a", "mode": "0600"}),
    ({"owner": "a", "group": "b", "mode": "0600"}, {"owner": "a", "group": "b", "mode": "0600"}, {}),
    ({"owner": "a", "group": "b", "mode": "0644"}, {"owner": None, "group": None, "mode": "0600"}, {"mode": "0600"}),
    ({"owner": "root", "group": "b", "mode": "0600"}, {"owner": "a", "group": None, "mode": None}, {"owner": "a"}),
])
def test_attribute_diff(current, wanted, expected):
    assert attribute_diff(current, wanted) == expected


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def apply(tmp_path, check_mode, token="tok-1", force_root=False):
    """The role's steps, in a temporary tree."""
    files = Files(check_mode)
    files.directory(str(tmp_path / "certs"), ME, MY_GROUP, "0755")
    files.directory(str(tmp_path / "tokens"), ME, MY_GROUP, "0700")
    files.file(str(tmp_path / "certs" / "root-cert.pem"), "root-2\n" if force_root else "root-1\n", ME, MY_GROUP, "0640",
               force=False)
    files.file(str(tmp_path / "cluster.env"), "A=1\n", ME, MY_GROUP, "0640")
    files.file(str(tmp_path / "tokens" / "istio-token"), token, ME, MY_GROUP, "0600", secret=True)
    files.block(str(tmp_path / "hosts"), MARKER, BLOCK)
    files.absent(str(tmp_path / "20-cleanup.conf"))
    return files


def test_check_mode_writes_nothing_then_apply_then_nothing_to_do(tmp_path):
    (tmp_path / "hosts").write_text(HOSTS)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    planned = apply(tmp_path, check_mode=True)
    assert planned.changed and all(entry["changed"] for path, entry in planned.paths.items()
                                   if not path.endswith("20-cleanup.conf"))
    assert sorted(p.name for p in tmp_path.rglob("*")) == before, "check mode wrote something"
    assert (tmp_path / "hosts").read_text() == HOSTS

    done = apply(tmp_path, check_mode=False)
    assert {path: entry["changed"] for path, entry in done.paths.items()} == \
        {path: entry["changed"] for path, entry in planned.paths.items()}
    assert (tmp_path / "hosts").read_text() == HOSTS + BEGIN + BLOCK + "\n" + END
    assert (tmp_path / "tokens" / "istio-token").read_text() == "tok-1"
    assert mode_of(tmp_path / "tokens" / "istio-token") == 0o600
    assert mode_of(tmp_path / "tokens") == 0o700
    assert mode_of(tmp_path / "cluster.env") == 0o640
    # no temporary file left behind
    assert sorted(p.name for p in tmp_path.rglob(".*")) == []

    again = apply(tmp_path, check_mode=False)
    assert not again.changed and again.diff == []
    assert not apply(tmp_path, check_mode=True).changed


def test_force_false_leaves_an_existing_file_as_it_is(tmp_path):
    """As ansible.builtin.copy: the agent rewrites root-cert.pem with its own mode; no fight."""
    apply(tmp_path, check_mode=False)
    os.chmod(tmp_path / "certs" / "root-cert.pem", 0o600)
    files = apply(tmp_path, check_mode=False, force_root=True)
    assert files.paths[str(tmp_path / "certs" / "root-cert.pem")] == {"kind": "file", "changed": False}
    assert (tmp_path / "certs" / "root-cert.pem").read_text() == "root-1\n"
    assert mode_of(tmp_path / "certs" / "root-cert.pem") == 0o600


def test_the_token_never_shows_in_the_diff(tmp_path):
    apply(tmp_path, check_mode=False, token="tkn-AAAA")
    files = apply(tmp_path, check_mode=False, token="tkn-BBBB")
    assert files.changed and (tmp_path / "tokens" / "istio-token").read_text() == "tkn-BBBB"
    assert [entry["before_header"] for entry in files.diff] == [str(tmp_path / "tokens" / "istio-token")]
    assert "tkn-" not in repr(files.diff) + repr(files.paths)
    assert files.diff[0]["after"].endswith(SECRET_AFTER)


def test_a_kept_token_gets_its_mode_back(tmp_path):
    apply(tmp_path, check_mode=False)
    token = tmp_path / "tokens" / "istio-token"
    os.chmod(token, 0o644)
    files = Files(check_mode=False)
    files.file(str(token), None, ME, MY_GROUP, "0600", secret=True)
    assert files.changed and mode_of(token) == 0o600 and token.read_text() == "tok-1"
    assert files.diff == [{"before_header": str(token), "after_header": str(token),
                           "before": "owner: %s\ngroup: %s\nmode: 0644\n" % (ME, MY_GROUP),
                           "after": "owner: %s\ngroup: %s\nmode: 0600\n" % (ME, MY_GROUP)}]
    # a missing file without content is left missing
    missing = Files(check_mode=False)
    missing.file(str(tmp_path / "nothing"), None, ME, MY_GROUP, "0600", secret=True)
    assert not missing.changed and not (tmp_path / "nothing").exists()


def test_rewrite_replaces_the_file_not_writes_into_it(tmp_path):
    apply(tmp_path, check_mode=False)
    env = tmp_path / "cluster.env"
    os.link(env, tmp_path / "other-name")
    files = Files(check_mode=False)
    files.file(str(env), "A=2\n", ME, MY_GROUP, "0640")
    assert env.read_text() == "A=2\n"
    assert (tmp_path / "other-name").read_text() == "A=1\n", "written in place, not renamed over"
    assert files.diff == [{"before_header": str(env), "after_header": str(env), "before": "A=1\n", "after": "A=2\n"}]


def test_absent_removes_files_only(tmp_path):
    (tmp_path / "drop-in.conf").write_text("x")
    files = Files(check_mode=False)
    files.absent(str(tmp_path / "drop-in.conf"))
    assert files.changed and not (tmp_path / "drop-in.conf").exists()
    with pytest.raises(FilesError, match="directory"):
        Files(check_mode=False).absent(str(tmp_path))


@pytest.mark.parametrize("check_mode", [True, False])
def test_an_unknown_owner_is_a_change_in_check_mode_and_an_error_otherwise(tmp_path, check_mode):
    files = Files(check_mode)
    if check_mode:
        files.file(str(tmp_path / "f"), "x", "no-such-user-meshops", None, "0640")
        assert files.changed and not (tmp_path / "f").exists()
    else:
        with pytest.raises(FilesError, match="no-such-user-meshops"):
            files.file(str(tmp_path / "f"), "x", "no-such-user-meshops", None, "0640")
        assert list(tmp_path.iterdir()) == [], "a temporary file was left"


def test_a_path_of_the_wrong_type_is_an_error(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(FilesError, match="not a regular file"):
        Files(check_mode=True).file(str(tmp_path / "d"), "x")
    (tmp_path / "f").write_text("x")
    with pytest.raises(FilesError, match="not a directory"):
        Files(check_mode=True).directory(str(tmp_path / "f"))


def test_block_follows_a_symlink_and_keeps_the_mode(tmp_path):
    real = tmp_path / "real-hosts"
    real.write_text(HOSTS)
    os.chmod(real, 0o604)
    (tmp_path / "hosts").symlink_to(real)
    files = Files(check_mode=False)
    files.block(str(tmp_path / "hosts"), MARKER, BLOCK)
    assert (tmp_path / "hosts").is_symlink() and real.read_text().endswith(END)
    assert mode_of(real) == 0o604
    assert list(files.paths) == [str(tmp_path / "hosts")]


def test_the_attributes_of_a_file_swapped_for_a_symlink_are_not_set_on_its_target(tmp_path):
    """Between the read of the token (a regular file) and the chmod, its owner can swap it for a link."""
    target = tmp_path / "setuid-binary"
    target.write_text("x")
    os.chmod(target, 0o4755)
    (tmp_path / "istio-token").symlink_to(target)
    with pytest.raises(FilesError, match="changed while it was being set up"):
        Files(check_mode=False)._set_attrs(str(tmp_path / "istio-token"), {"mode": "0600"})  # pylint: disable=protected-access
    assert mode_of(target) == 0o4755


def test_the_hosts_block_keeps_bytes_that_are_not_utf8(tmp_path):
    """A hosts file with a Latin-1 comment is the file, not an empty one: the block goes around it."""
    hosts = tmp_path / "hosts"
    original = b"# caf\xe9 (latin-1)\n" + HOSTS.encode()
    hosts.write_bytes(original)
    for check_mode in (True, False):
        files = Files(check_mode=check_mode)
        files.block(str(hosts), MARKER, BLOCK)
        assert files.paths[str(hosts)]["changed"]
    assert hosts.read_bytes() == original + (BEGIN + BLOCK + "\n" + END).encode()
    files = Files(check_mode=False)
    files.block(str(hosts), MARKER, BLOCK)
    assert not files.paths[str(hosts)]["changed"], "not idempotent"


def test_crlf_content_converges_and_a_crlf_hosts_file_keeps_its_line_endings(tmp_path):
    pem = tmp_path / "root-cert.pem"
    for run in range(3):
        files = Files(check_mode=False)
        files.file(str(pem), "-----BEGIN\r\nabc\r\n", mode="0644")
        assert files.paths[str(pem)]["changed"] == (run == 0), run
    assert pem.read_bytes() == b"-----BEGIN\r\nabc\r\n"
    files = Files(check_mode=False)
    files.file(str(pem), "-----BEGIN\nabc\n", mode="0644")        # LF is another content
    assert files.paths[str(pem)]["changed"] and pem.read_bytes() == b"-----BEGIN\nabc\n"
    hosts = tmp_path / "hosts"
    hosts.write_bytes(HOSTS.replace("\n", "\r\n").encode())
    for run in range(2):
        files = Files(check_mode=False)
        files.block(str(hosts), MARKER, BLOCK)
        assert files.paths[str(hosts)]["changed"] == (run == 0), run
    assert hosts.read_bytes().startswith(HOSTS.replace("\n", "\r\n").encode())


@pytest.mark.skipif(os.geteuid() != 0, reason="giving the directory another owner first needs root")
def test_directory_through_a_symlink_converges_on_its_target(tmp_path):
    # the owner is read from the directory the link points to, so it must be set there, not on the link
    real, link = tmp_path / "real", tmp_path / "link"
    real.mkdir(mode=0o755)
    os.chown(real, 65534, 65534)
    link.symlink_to(real)
    first = Files(False)
    first.directory(str(link), ME, MY_GROUP, "0700")
    assert first.changed
    assert (real.stat().st_uid, real.stat().st_gid, mode_of(real)) == (os.getuid(), os.getgid(), 0o700)
    assert link.is_symlink()
    second = Files(False)
    second.directory(str(link), ME, MY_GROUP, "0700")
    assert not second.changed and second.diff == []


@pytest.mark.skipif(os.geteuid() != 0, reason="a symlink of another user needs root to make")
@pytest.mark.parametrize("where", ["last", "middle"])
def test_directory_through_another_users_symlink_is_refused(tmp_path, where):
    # istio-proxy owns /etc/certs: a link it made there must not lead root's chown to /etc/systemd/system
    victim, owned = tmp_path / "victim", tmp_path / "owned"
    victim.mkdir(mode=0o755)
    owned.mkdir(mode=0o755)
    link = owned / "tokens"
    link.symlink_to(victim)
    os.lchown(link, 65534, 65534)
    path = link if where == "last" else link / "sub"
    with pytest.raises(FilesError, match="%s is a symlink owned by uid 65534, not followed" % link):
        Files(False).directory(str(path), "nobody", grp.getgrgid(65534).gr_name, "0700")
    assert (victim.stat().st_uid, mode_of(victim)) == (0, 0o755)
    assert not (victim / "sub").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="a symlink of another user needs root to make")
def test_absent_unlinks_a_last_symlink_but_goes_through_no_directory_link_of_another_user(tmp_path):
    victim = tmp_path / "etc"
    victim.mkdir()
    (victim / "key.pem").write_text("root's")
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "key.pem").symlink_to(victim / "key.pem")       # the last component: the link goes, not its target
    files = Files(False)
    files.absent(str(certs / "key.pem"))
    assert files.changed and not (certs / "key.pem").is_symlink() and (victim / "key.pem").read_text() == "root's"
    link = certs / "sub"
    link.symlink_to(victim)
    os.lchown(link, 65534, 65534)
    with pytest.raises(FilesError, match="%s is a symlink owned by uid 65534, not followed" % link):
        Files(False).absent(str(link / "key.pem"))
    assert (victim / "key.pem").read_text() == "root's"


def test_read_text_gives_none_for_what_it_cannot_read(tmp_path):
    text = tmp_path / "cluster.env"
    text.write_text("ISTIO_NAMESPACE=istio-system\n")
    binary = tmp_path / "blob"
    binary.write_bytes(b"\xff\xfe\x00")
    assert read_text(str(text)) == "ISTIO_NAMESPACE=istio-system\n"
    assert [read_text(p) for p in (None, str(tmp_path / "missing"), str(tmp_path), str(binary))] == [None] * 4


def test_read_text_does_not_wait_on_a_fifo(tmp_path):
    """istio-proxy owns the token's directory: a FIFO it put at the token's path must not hang the read
    (open() of a FIFO blocks until a writer comes)."""
    fifo = tmp_path / "istio-token"
    os.mkfifo(fifo)
    link = tmp_path / "link"
    link.symlink_to(fifo)
    assert read_text(str(fifo)) is None and read_text(str(link)) is None


# --- fetched: a file replaced by what a download gives, only when its SHA-256 is the one asked for ---

PACKAGE = b"!<arch>\n" + bytes(range(256)) * 4096
PACKAGE_SHA = hashlib.sha256(PACKAGE).hexdigest()


def chunked(data, calls):
    """A fetch that records its calls and gives ``data`` in 64 KiB chunks."""
    def fetch():
        calls.append(1)
        return (data[i:i + 65536] for i in range(0, len(data), 65536))
    return fetch


def listing(directory):
    return sorted(os.listdir(directory))


def test_fetched_check_then_write_then_nothing_to_do(tmp_path):
    path = str(tmp_path / "cache" / "istio-sidecar.deb")
    calls = []
    dry = Files(check_mode=True)
    dry.directory(str(tmp_path / "cache"), mode="0755")
    dry.fetched(path, PACKAGE_SHA.upper(), chunked(PACKAGE, calls), mode="0644")
    assert dry.changed and calls == [] and not (tmp_path / "cache").exists()
    assert dry.diff[-1]["after"].endswith("sha256: %s\n" % PACKAGE_SHA) and dry.diff[-1]["before"] == ""

    files = Files(check_mode=False)
    files.directory(str(tmp_path / "cache"), mode="0755")
    files.fetched(path, PACKAGE_SHA, chunked(PACKAGE, calls), mode="0644")
    assert files.paths[path] == {"kind": "file", "changed": True} and calls == [1]
    assert (tmp_path / "cache" / "istio-sidecar.deb").read_bytes() == PACKAGE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert listing(tmp_path / "cache") == ["istio-sidecar.deb"]

    again = Files(check_mode=False)
    again.fetched(path, PACKAGE_SHA, chunked(PACKAGE, calls), mode="0644")
    assert not again.changed and again.diff == [] and calls == [1]


def test_fetched_keeps_the_right_file_and_fixes_its_mode_without_fetching(tmp_path):
    path = tmp_path / "istio-sidecar.deb"
    path.write_bytes(PACKAGE)
    os.chmod(path, 0o600)
    calls = []
    files = Files(check_mode=False)
    files.fetched(str(path), PACKAGE_SHA, chunked(PACKAGE, calls), mode="0644")
    assert files.changed and calls == []
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_a_checksum_mismatch_keeps_the_old_file_and_leaves_nothing_behind(tmp_path):
    path = tmp_path / "istio-sidecar.deb"
    path.write_bytes(b"the old package")
    files = Files(check_mode=False)
    with pytest.raises(ChecksumMismatch) as caught:
        files.fetched(str(path), PACKAGE_SHA, chunked(PACKAGE[:-1], []), mode="0644")
    assert caught.value.wanted == PACKAGE_SHA and caught.value.got == hashlib.sha256(PACKAGE[:-1]).hexdigest()
    assert path.read_bytes() == b"the old package"
    assert listing(tmp_path) == ["istio-sidecar.deb"] and not files.changed


def test_a_download_that_breaks_off_leaves_nothing_behind(tmp_path):
    def broken():
        yield PACKAGE[:65536]
        raise OSError("timed out")
    files = Files(check_mode=False)
    with pytest.raises(OSError, match="timed out"):
        files.fetched(str(tmp_path / "istio-sidecar.deb"), PACKAGE_SHA, broken, mode="0644")
    assert listing(tmp_path) == [] and not files.changed


# --- a file others could write, handed to root -------------------------------------------------------

@pytest.mark.parametrize("now,after,expected", [
    # istio-proxy's file given to root: istio-proxy loses it
    ((999, 999, 0o644), (0, 0, 0o644), {("user", 999)}),
    # root's, group-writable by istio-proxy's group, made 0644: the group loses it
    ((0, 999, 0o664), (-1, -1, 0o644), {("group", 999)}),
    # world-writable: anyone
    ((0, 0, 0o666), (None, None, 0o644), {("anyone",)}),
    # cluster.env: root:istio-proxy 0640 wanted; istio-proxy's before (the guide's chown)
    ((999, 999, 0o640), (0, 999, 0o640), {("user", 999)}),
    # nothing taken away: root's file gets a group that may only read it
    ((0, 0, 0o644), (0, 999, 0o640), set()),
    # the token stays istio-proxy's
    ((999, 999, 0o644), (999, 999, 0o600), set()),
])
def test_untrusted_writers(now, after, expected):
    assert untrusted_writers(now, after) == expected


def _proxy_file(tmp_path, text=b"# ISTIO_SERVICE=myservice\n"):
    """sidecar.env as the package leaves it after the istio.io guide's chown: nobody's (istio-proxy's here)."""
    env = tmp_path / "sidecar.env"
    env.write_bytes(text)
    os.chown(env, 65534, 65534)
    os.chmod(env, 0o644)
    return env


def _records(digest):
    return lambda package, path: ("md5", digest) if package == "istio-sidecar" else None


@pytest.mark.skipif(os.geteuid() != 0, reason="a file of another user needs root to make")
@pytest.mark.parametrize("check_mode", [True, False])
def test_a_file_another_user_could_write_is_handed_to_root_only_as_the_package_shipped_it(tmp_path, check_mode):
    env = _proxy_file(tmp_path)
    shipped = hashlib.md5(env.read_bytes()).hexdigest()
    held = open(env, "ab")  # pylint: disable=consider-using-with
    try:
        files = Files(check_mode, package_digest=_records(shipped))
        files.file(str(env), None, "root", "root", "0644", package="istio-sidecar")
        assert files.changed
        if check_mode:
            assert env.stat().st_uid == 65534
            return
        assert (env.stat().st_uid, env.stat().st_gid, mode_of(env)) == (0, 0, 0o644)
        assert env.read_bytes() == b"# ISTIO_SERVICE=myservice\n"
        # a new file: what its old owner writes through a descriptor it kept open does not reach it
        held.write(b"ISTIO_AGENT_FLAGS=--evil\n")
        held.flush()
        assert env.read_bytes() == b"# ISTIO_SERVICE=myservice\n"
        assert files.diff[0]["before"].startswith("owner: nobody\n")
        assert files.diff[0]["after"] == "owner: root\ngroup: root\nmode: 0644\n"
    finally:
        held.close()
    again = Files(False, package_digest=_records(shipped))
    again.file(str(env), None, "root", "root", "0644", package="istio-sidecar")
    assert not again.changed


@pytest.mark.skipif(os.geteuid() != 0, reason="a file of another user needs root to make")
@pytest.mark.parametrize("check_mode", [True, False])
@pytest.mark.parametrize("records", [_records("0" * 32), lambda package, path: None, None])
def test_a_file_another_user_changed_is_not_handed_to_root(tmp_path, check_mode, records):
    env = _proxy_file(tmp_path, b"ISTIO_AGENT_FLAGS=--evil\n")
    with pytest.raises(FilesError) as failed:
        Files(check_mode, package_digest=records).file(str(env), None, "root", "root", "0644", package="istio-sidecar")
    message = str(failed.value)
    assert message.startswith("%s can be written by nobody (its owner), and " % env)
    assert ("its MD5 is %s, the package's %s" % (hashlib.md5(b"ISTIO_AGENT_FLAGS=--evil\n").hexdigest(), "0" * 32)
            in message) if records is not None and records("istio-sidecar", "") else "records no digest" in message
    assert "Check it, then give it owner root" in message
    assert (env.stat().st_uid, env.read_bytes()) == (65534, b"ISTIO_AGENT_FLAGS=--evil\n")


@pytest.mark.skipif(os.geteuid() != 0, reason="a file of another user needs root to make")
def test_a_file_with_content_that_another_user_could_write_is_written_again(tmp_path):
    env = _proxy_file(tmp_path, b"A=1\n")
    held = open(env, "ab")  # pylint: disable=consider-using-with
    try:
        files = Files(False)
        files.file(str(env), "A=1\n", "root", "nogroup", "0640")
        held.write(b"B=2\n")
        held.flush()
    finally:
        held.close()
    assert (env.stat().st_uid, env.read_bytes()) == (0, b"A=1\n")
    # the content did not change: the diff shows the attributes
    assert files.diff[0]["after"] == "owner: root\ngroup: nogroup\nmode: 0640\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="a file of another user needs root to make")
def test_without_a_package_a_file_of_another_user_only_gets_its_attributes(tmp_path):
    env = _proxy_file(tmp_path)
    inode = env.stat().st_ino
    files = Files(False)
    files.file(str(env), None, "root", "root", "0600")
    assert (env.stat().st_ino, env.stat().st_uid, mode_of(env)) == (inode, 0, 0o600)


# --- the root certificate, compared as certificates -------------------------------------------------

def _pem(der: bytes) -> str:
    body = base64.b64encode(der).decode()
    return "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n" % "\n".join(
        body[i:i + 64] for i in range(0, len(body), 64))


OLD_ROOT, NEW_ROOT = _pem(b"old root " * 20), _pem(b"new root " * 20)


def test_pem_certificates_ignore_line_breaks_and_other_blocks():
    agent = OLD_ROOT.rstrip("\n").replace("\n", "\r\n")
    assert pem_certificates(agent) == pem_certificates(OLD_ROOT) == {b"old root " * 20}
    assert pem_certificates("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n") == set()
    assert pem_certificates("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n") == set()


@pytest.mark.parametrize("text,wanted,expected", [
    (OLD_ROOT.rstrip("\n"), OLD_ROOT, True),        # the agent's way of writing the same root
    (OLD_ROOT + NEW_ROOT, NEW_ROOT, True),           # a rotation: the agent holds both
    (OLD_ROOT, OLD_ROOT + NEW_ROOT, True),           # the trust bundle holds more roots than the agent writes
    (OLD_ROOT, NEW_ROOT, False),                     # the mesh's root changed
    ("", OLD_ROOT, False),
    (OLD_ROOT, "not a certificate", False),          # nothing to compare: compared as bytes
])
def test_shares_certificate(text, wanted, expected):
    assert shares_certificate(text, wanted) is expected


def test_a_root_certificate_the_agent_rewrote_is_kept_and_a_changed_root_replaced(tmp_path):
    root = tmp_path / "root-cert.pem"
    root.write_text(OLD_ROOT.rstrip("\n"))
    os.chmod(root, 0o600)
    kept = Files(False)
    kept.file(str(root), OLD_ROOT, ME, MY_GROUP, "0640", certificates=True)
    assert not kept.changed and root.read_text() == OLD_ROOT.rstrip("\n") and mode_of(root) == 0o600
    for check_mode in (True, False):
        replaced = Files(check_mode)
        replaced.file(str(root), NEW_ROOT, ME, MY_GROUP, "0640", certificates=True)
        assert replaced.changed
        assert replaced.diff[0]["before"] == OLD_ROOT.rstrip("\n") and replaced.diff[0]["after"] == NEW_ROOT
    assert root.read_text() == NEW_ROOT and mode_of(root) == 0o640


def test_the_kept_root_certificate_may_hold_fewer_roots_than_the_trust_bundle(tmp_path):
    root = tmp_path / "root-cert.pem"
    root.write_text(OLD_ROOT.rstrip("\n"))
    files = Files(False)
    files.file(str(root), OLD_ROOT + NEW_ROOT, ME, MY_GROUP, "0640", certificates=True)
    assert not files.changed and root.read_text() == OLD_ROOT.rstrip("\n")


@pytest.mark.parametrize("swap", ["symlink", "fifo"])
def test_a_file_swapped_after_the_check_is_not_read(tmp_path, swap, monkeypatch):
    """istio-proxy owns /etc/certs: what it puts at root-cert.pem between the check and the read is
    neither followed (a link to a root-only file would land in the diff) nor waited on."""
    secret, root = tmp_path / "shadow", tmp_path / "root-cert.pem"
    secret.write_text("root:$6$secret\n")
    root.write_text(OLD_ROOT)
    real_stat = Files._stat

    def stat_then_swap(path, kind, follow=False):
        info = real_stat(path, kind, follow)
        os.unlink(root)
        if swap == "symlink":
            root.symlink_to(secret)
        else:
            os.mkfifo(root)
        return info
    monkeypatch.setattr(Files, "_stat", staticmethod(stat_then_swap))
    files = Files(False)
    with pytest.raises(FilesError, match="changed while it was being set up"):
        files.file(str(root), NEW_ROOT, ME, MY_GROUP, "0640", certificates=True)
    assert "secret" not in repr(files.diff)


def test_read_regular_refuses_what_is_too_large(tmp_path):
    big = tmp_path / "istio-token"
    with open(big, "wb") as out:
        out.truncate((4 << 20) + 1)        # sparse: a 4 MiB read would still be fine, this is not
    assert read_regular(str(big)) is None and read_text(str(big)) is None
    small = tmp_path / "small"
    small.write_bytes(b"x")
    link = tmp_path / "link"
    link.symlink_to(small)
    assert read_regular(str(link)) == b"x" and read_regular(str(link), follow=False) is None
