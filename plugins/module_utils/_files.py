# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""The sidecar's files on the VM in one pass, for ``meshops.istio_vm.sidecar_files``.

Pure functions decide (``parse_mode``, ``hosts_with_block``, ``attribute_diff``); ``Files`` applies
them to the file system: directories, whole files written atomically (a temporary file in the
same directory, then a rename), a marked block in a file such as ``/etc/hosts``, paths removed.
Every step records whether it changed its path and a diff; in check mode nothing is written.
The token is a file like the others whose content never enters a diff or a result.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import stat
import tempfile
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ansible_collections.meshops.istio_vm.plugins.module_utils._diff import file_diff
from ansible_collections.meshops.istio_vm.plugins.module_utils._package import sha256_of
from ansible_collections.meshops.istio_vm.plugins.module_utils._pem import pem_certificates

# What the diff says of a secret file instead of its content.
SECRET_BEFORE = "(previous content, not shown)\n"
SECRET_AFTER = "(new content, not shown)\n"
SECRET_MISSING = ""


def foreign_link(path: str) -> str:
    """The first component of ``path`` that is a symlink owned by neither root nor this process's
    user, or ''. A symlink someone else owns can be pointed anywhere by them: a directory set up
    through it would give them the owner and mode set there."""
    trusted = {0, os.geteuid()}
    prefix = ""
    for part in [p for p in os.path.normpath(path).split("/") if p]:
        prefix += "/" + part
        try:
            info = os.lstat(prefix)
        except FileNotFoundError:
            return ""
        if stat.S_ISLNK(info.st_mode) and info.st_uid not in trusted:
            return prefix
    return ""


class FilesError(Exception):
    """A path the module cannot set up as asked."""


class ChecksumMismatch(FilesError):
    """What was fetched for a file is not the file asked for (its SHA-256 differs); the file
    that was there is left as it was."""

    def __init__(self, path: str, wanted: str, got: str) -> None:
        super().__init__("the SHA-256 of what was fetched for %s is %s, not %s" % (path, got, wanted))
        self.wanted = wanted
        self.got = got


# What a read of the sidecar's small files takes at most: a token, a certificate, /etc/hosts, an env file.
MAX_READ = 4 << 20


def read_regular(path: Optional[str], follow: bool = True) -> Optional[bytes]:
    """The bytes of a regular file (a symlink to one is followed unless ``follow`` is false), or None
    when there is none to read (no path, missing, unreadable, not a regular file, larger than MAX_READ).
    Opened without blocking and checked on the descriptor: a FIFO or a huge file that whoever owns the
    directory put in its place (istio-proxy owns the token's and the certificate's) is not waited on."""
    if path is None:
        return None
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        handle = os.open(path, flags)
    except OSError:
        return None
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_READ:
            return None
        chunks, size = [], 0
        while True:
            chunk = os.read(handle, 1 << 16)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_READ:
                return None
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(handle)


def read_text(path: Optional[str]) -> Optional[str]:
    """The text of a file, or None when there is none to read (read_regular; not UTF-8)."""
    data = read_regular(path)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def parse_mode(mode: Any) -> Optional[int]:
    """The permission bits of ``mode``: None, an int (YAML 0640 unquoted is already 416), or an
    octal string (``"0640"``, ``"640"``, ``"0o640"``). Symbolic modes are refused."""
    if mode is None:
        return None
    if isinstance(mode, bool):
        raise FilesError("mode %r is not an octal mode" % (mode,))
    if isinstance(mode, int):
        value = mode
    else:
        text = str(mode).strip().lower()
        if text.startswith("0o"):
            text = text[2:]
        try:
            value = int(text, 8)
        except ValueError:
            raise FilesError("mode %r is not an octal mode such as '0640'" % (mode,)) from None
    if not 0 <= value <= 0o7777:
        raise FilesError("mode %r is out of range" % (mode,))
    return value


def _markers(marker: str) -> Tuple[str, str]:
    if "{mark}" not in marker:
        raise FilesError("marker %r has no {mark}" % (marker,))
    return marker.replace("{mark}", "BEGIN") + "\n", marker.replace("{mark}", "END") + "\n"


def shown(text: str) -> str:
    """Text read with surrogateescape as a diff can show it: bytes that are not UTF-8 as U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def hosts_with_block(text: str, marker: str, block: str) -> str:
    """``text`` with ``block`` between the BEGIN and END lines of ``marker`` (``{mark}`` stands
    for BEGIN or END), the way ``ansible.builtin.blockinfile`` writes it with its defaults: an
    existing block (both markers, the last of each) is replaced where it is, otherwise the block
    is appended at the end; an empty block removes it. So a file blockinfile wrote converges
    without a second block. A marker line is matched without its line ending, as blockinfile
    does: the last line of the file may lack its newline, and a file may end its lines with CRLF."""
    begin, end = _markers(marker)
    bare_begin, bare_end = begin.rstrip("\n"), end.rstrip("\n")
    lines = text.splitlines(True)
    first = last = None
    for number, line in enumerate(lines):
        bare = line.rstrip("\r\n")
        if bare == bare_begin:
            first = number
        if bare == bare_end:
            last = number
    if first is not None and last is not None:
        start, stop = min(first, last), max(first, last)
        del lines[start:stop + 1]
        where = start
    else:
        where = len(lines)
    if where > 0 and not lines[where - 1].endswith("\n"):
        lines[where - 1] += "\n"
    if block:
        body = block if block.endswith("\n") else block + "\n"
        lines[where:where] = [begin] + body.splitlines(True) + [end]
    return "".join(lines)


def shares_certificate(text: str, wanted: str) -> bool:
    """Whether ``text`` holds a certificate of ``wanted``. The mesh's trust bundle (istio-ca-root-cert)
    may hold more roots than the agent writes (meshConfig.caCertificates, both roots during a
    migration): one of them in common is the same mesh; none is a mesh whose root changed."""
    return bool(pem_certificates(wanted) & pem_certificates(text))


def describe(attrs: Optional[Dict[str, Any]]) -> str:
    """Owner, group and mode as diff lines (empty for a missing path)."""
    if attrs is None:
        return ""
    return "".join("%s: %s\n" % (key, attrs[key]) for key in ("owner", "group", "mode") if attrs.get(key) is not None)


def attribute_diff(current: Optional[Dict[str, Any]], wanted: Dict[str, Any]) -> Dict[str, Any]:
    """The attributes of ``wanted`` (owner, group, mode as '0640'; None = leave) that differ from
    ``current`` (None = the path is missing: all of them)."""
    return {key: value for key, value in wanted.items()
            if value is not None and (current is None or current.get(key) != value)}


def writers(uid: int, gid: int, mode: int) -> set:
    """Who besides root can write a file of owner ``uid``, group ``gid`` and permission bits ``mode``:
    ('user', uid), ('group', gid) when group-writable, ('anyone',) when world-writable."""
    found = set() if uid == 0 else {("user", uid)}
    if mode & 0o020 and gid != 0:
        found.add(("group", gid))
    if mode & 0o002:
        found.add(("anyone",))
    return found


def digest_of(algorithm: str, data: bytes) -> str:
    """The hex digest of ``data`` by hashlib's ``algorithm``; empty when this Python refuses it (MD5
    on a FIPS host). It checks a file against the package database, not a password."""
    try:
        try:
            return hashlib.new(algorithm, data, usedforsecurity=False).hexdigest()
        except TypeError:       # Python 3.8: no usedforsecurity
            return hashlib.new(algorithm, data).hexdigest()
    except ValueError:
        return ""


def who(found: set) -> str:
    """``writers`` in words: 'istio-proxy (its owner), group istio-proxy, anyone'."""
    def name(entry):
        if entry[0] == "user":
            try:
                return "%s (its owner)" % pwd.getpwuid(entry[1]).pw_name
            except KeyError:
                return "uid %d (its owner)" % entry[1]
        if entry[0] == "group":
            try:
                return "group %s" % grp.getgrgid(entry[1]).gr_name
            except KeyError:
                return "gid %d" % entry[1]
        return "anyone"
    return ", ".join(name(entry) for entry in sorted(found))


def untrusted_writers(now: Tuple[int, int, int], after: Tuple[int, int, int]) -> set:
    """The writers (``writers``) of a file with owner, group and mode ``now`` that it will not have with
    ``after`` (-1 or None: the same as now). What they wrote stays in the file when only its
    attributes change, and one of them that has it open keeps writing to it after a chown."""
    uid, gid, mode = (now[i] if after[i] is None or after[i] == -1 else after[i] for i in range(3))
    return writers(*now) - writers(uid, gid, mode)


def mode_text(mode: Optional[int]) -> Optional[str]:
    return None if mode is None else "%04o" % mode


class Files:
    """Applies the steps to the file system, recording per path whether it changed and a diff.

    ``check_mode``: decide everything, write nothing. ``after_write(path)`` runs after each write
    (the module sets the SELinux context there). ``package_digest(package, path)``: (hashlib name,
    digest) of the file as the installed package shipped it, or None (``file``'s ``package``)."""

    def __init__(self, check_mode: bool, after_write: Optional[Callable[[str], None]] = None,
                 package_digest: Optional[Callable[[str, str], Optional[Tuple[str, str]]]] = None):
        self.check_mode = check_mode
        self.after_write = after_write
        self.package_digest = package_digest
        self.paths: Dict[str, Dict[str, Any]] = {}
        self.diff: List[Dict[str, str]] = []

    @property
    def changed(self) -> bool:
        return any(entry["changed"] for entry in self.paths.values())

    # --- reading -------------------------------------------------------------------------------
    @staticmethod
    def _stat(path: str, kind: int, follow: bool = False) -> Optional[os.stat_result]:
        try:
            info = os.stat(path) if follow else os.lstat(path)
        except FileNotFoundError:
            return None
        if stat.S_IFMT(info.st_mode) != kind:
            raise FilesError("%s exists and is not a %s" % (path, "directory" if kind == stat.S_IFDIR else "regular file"))
        return info

    @staticmethod
    def _attrs(info: Optional[os.stat_result]) -> Optional[Dict[str, Any]]:
        if info is None:
            return None
        try:
            owner = pwd.getpwuid(info.st_uid).pw_name
        except KeyError:
            owner = str(info.st_uid)
        try:
            group = grp.getgrgid(info.st_gid).gr_name
        except KeyError:
            group = str(info.st_gid)
        return {"owner": owner, "group": group, "mode": mode_text(stat.S_IMODE(info.st_mode))}

    def _ids(self, owner: Optional[str], group: Optional[str]) -> Tuple[int, int]:
        """uid and gid to set (-1 = leave). In check mode an unknown name (the package that
        creates the user is not installed yet) is only a change to come."""
        try:
            uid = -1 if owner is None else pwd.getpwnam(owner).pw_uid
            gid = -1 if group is None else grp.getgrnam(group).gr_gid
        except KeyError:
            if self.check_mode:
                return -1, -1
            raise FilesError("no such user or group: %s:%s" % (owner, group)) from None
        return uid, gid

    def _record(self, path: str, kind: str, changed: bool, before: str = "", after: str = "") -> None:
        self.paths[path] = {"kind": kind, "changed": changed}
        if changed and before != after:
            self.diff.append(file_diff(path, before, after))

    # --- steps ---------------------------------------------------------------------------------
    def directory(self, path: str, owner: Optional[str] = None, group: Optional[str] = None, mode: Any = None) -> None:
        """A directory (a symlink to one is followed, as ansible.builtin.file does, but only one of root
        or of this process's user: see ``foreign_link``)."""
        link = foreign_link(path)
        if link:
            raise FilesError("%s: %s is a symlink owned by uid %d, not followed (whoever owns it could point "
                             "the owner and mode this sets at any directory)" % (path, link, os.lstat(link).st_uid))
        wanted = {"owner": owner, "group": group, "mode": mode_text(parse_mode(mode))}
        info = self._stat(path, stat.S_IFDIR, follow=True)
        current = self._attrs(info)
        todo = attribute_diff(current, wanted)
        if info is None and todo.get("mode") is None:
            todo["mode"] = "0755"
        changed = info is None or bool(todo)
        if changed and not self.check_mode:
            if info is None:
                os.makedirs(path, 0o700)
            # the attributes were read from the directory a symlink points to: set them there too
            self._set_attrs(path, todo, follow=True)
        after = describe({**(current or {}), **todo})
        self._record(path, "directory", changed, describe(current), after if info else "state: directory\n" + after)

    def file(self, path: str, content: Optional[str] = None, owner: Optional[str] = None, group: Optional[str] = None,
             mode: Any = None, force: bool = True, secret: bool = False, package: Optional[str] = None,
             certificates: bool = False) -> None:
        """``content`` into ``path``; without ``content`` only the attributes of an existing file.
        With ``force`` false an existing file is left as it is, attributes included, as
        ansible.builtin.copy does. With ``certificates``, so is one that holds a certificate of
        ``content`` (``shares_certificate``; the agent rewrites the root certificate in its own way,
        and it is written again when the mesh's root changed). ``secret``: the diff never shows content.

        A file that users lose write access to with the new attributes (``untrusted_writers``: the
        package's postinst gives istio-proxy the directory, the istio.io guide chowns the files) is
        not changed in place: one of them may still have it open. With ``content``, it is written
        again, a new file. Without, and with the ``package`` that installed it, its bytes must be what
        the package database records for it (then they are written again, a new file); otherwise it
        is an error and the file stays as it is: who could write it may have put anything there."""
        wanted = {"owner": owner, "group": group, "mode": mode_text(parse_mode(mode))}
        info = self._stat(path, stat.S_IFREG)
        if info is not None and not force:
            self._record(path, "secret" if secret else "file", False)
            return
        current = self._attrs(info)
        old = None
        if info is not None and content is not None:
            old = self._read(path)
            if certificates and shares_certificate(old, content):
                self._record(path, "secret" if secret else "file", False)
                return
        todo = attribute_diff(current, wanted)
        others = self._untrusted(info, wanted) if info is not None and todo else set()
        untrusted = bool(others)
        verified = None
        if untrusted and content is None and package is not None:
            verified = self._verified_bytes(path, package, others)
        new_content = content is not None and (info is None or old != content)
        rewrite = new_content or (content is not None and untrusted)
        attrs = {**(current or {}), **{k: v for k, v in wanted.items() if v is not None}}
        if rewrite:
            if not self.check_mode:
                self._write(path, content, attrs)
        elif verified is not None:
            if not self.check_mode:
                self._write_chunks(path, [verified], attrs)
        elif info is not None and todo and not self.check_mode:
            self._set_attrs(path, todo)
        changed = rewrite or (info is not None and bool(todo))
        kind = "secret" if secret else "file"
        if secret:
            before = describe(current) + (SECRET_BEFORE if info is not None and new_content else "")
            after = describe({**(current or {}), **todo}) + (SECRET_AFTER if new_content else "")
        elif new_content:
            before, after = shown(old or ""), content
        else:
            before, after = describe(current), describe({**(current or {}), **todo})
        self._record(path, kind, changed, before, after)

    def _untrusted(self, info: os.stat_result, wanted: Dict[str, Any]) -> set:
        """untrusted_writers of the file ``info`` describes with the ``wanted`` attributes; an owner or group
        unknown in check mode (its package not installed yet) counts as none."""
        uid, gid = self._ids(wanted.get("owner"), wanted.get("group"))
        mode = int(wanted["mode"], 8) if wanted.get("mode") is not None else None
        return untrusted_writers((info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)), (uid, gid, mode))

    def _verified_bytes(self, path: str, package: str, others: set) -> bytes:
        """The bytes of ``path`` when they are what ``package`` shipped (``package_digest``), else
        FilesError. ``others``: who could write it (untrusted_writers), for the message."""
        data = self._read_bytes(path)
        recorded = self.package_digest(package, path) if self.package_digest is not None else None
        if recorded is None:
            problem = "package %s's database records no digest of it to compare with" % package
        else:
            algorithm, digest = recorded
            got = digest_of(algorithm, data)
            if got == digest:
                return data
            problem = ("it is not the file package %s installed (its %s is %s, the package's %s)"
                       % (package, algorithm.upper(), got, digest) if got else
                       "this Python cannot compute the %s package %s's database records (a FIPS host?)"
                       % (algorithm.upper(), package))
        raise FilesError("%s can be written by %s, and %s: it is not handed to root as it is, since %s may have put "
                         "anything in it. Check it, then give it owner root and a mode only root can write (or put the "
                         "package's file back), and run again" % (path, who(others), problem, who(others)))

    def block(self, path: str, marker: str, block: str) -> None:
        """The marked block in ``path`` (created if missing, 0644); the file keeps its owner and
        mode. A symlink is followed, as ansible.builtin.blockinfile does."""
        real = os.path.realpath(path)
        info = self._stat(real, stat.S_IFREG)
        old = "" if info is None else self._read(real)
        new = hosts_with_block(old, marker, block)
        changed = new != old
        if changed and not self.check_mode:
            self._write(real, new, self._attrs(info) or {"mode": "0644"})
        self._record(path, "block", changed, shown(old), shown(new))

    def fetched(self, path: str, sha256: str, fetch: Callable[[], Iterable[bytes]], owner: Optional[str] = None,
                group: Optional[str] = None, mode: Any = None) -> None:
        """``path`` as the file whose SHA-256 is ``sha256``. A file that is already it keeps its
        content and gets the attributes asked for. Otherwise ``fetch()`` gives its bytes (chunks),
        written to a temporary file that replaces ``path`` only when its SHA-256 is ``sha256``
        (else ChecksumMismatch, and nothing changes). The diff shows the SHA-256s, not the bytes."""
        wanted_sha = sha256.lower()
        info = self._stat(path, stat.S_IFREG)
        have = sha256_of(path) if info is not None else ""
        if have == wanted_sha:
            self.file(path, None, owner, group, mode)
            return
        current = self._attrs(info)
        wanted = {key: value for key, value in
                  (("owner", owner), ("group", group), ("mode", mode_text(parse_mode(mode)))) if value is not None}
        if not self.check_mode:
            def verify(got: str) -> None:
                if got != wanted_sha:
                    raise ChecksumMismatch(path, wanted_sha, got)
            self._write_chunks(path, fetch(), {**(current or {}), **wanted}, verify)
        self._record(path, "file", True, describe(current) + ("sha256: %s\n" % have if have else ""),
                     describe({**(current or {}), **wanted}) + "sha256: %s\n" % wanted_sha)

    def absent(self, path: str) -> None:
        """No file at ``path``: a file or a symlink there is unlinked (a symlink itself, never what it
        points to), through directories reached by no symlink of another user (``foreign_link``)."""
        link = foreign_link(os.path.dirname(path))
        if link:
            raise FilesError("%s: %s is a symlink owned by uid %d, not followed (whoever owns it could point "
                             "the removal at any directory)" % (path, link, os.lstat(link).st_uid))
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            info = None
        if info is not None and stat.S_ISDIR(info.st_mode):
            raise FilesError("%s is a directory; only files are removed" % path)
        if info is not None and not self.check_mode:
            os.unlink(path)
        self._record(path, "absent", info is not None, "state: present\n", "state: absent\n")

    # --- writing -------------------------------------------------------------------------------
    @staticmethod
    def _read(path: str) -> str:
        """The file's text as it is: line endings kept (a CRLF file is not the same as an LF one),
        and bytes that are not UTF-8 kept as surrogates, so that a file rewritten around them (the
        hosts block) keeps them, and one that is compared differs. The regular file found before
        (read_regular: no symlink followed, no FIFO waited on, at most MAX_READ bytes); anything
        else in its place now (istio-proxy owns /etc/certs) is an error, never read."""
        return Files._read_bytes(path).decode("utf-8", "surrogateescape")

    @staticmethod
    def _read_bytes(path: str) -> bytes:
        """The bytes of the regular file found before (``_read``), else FilesError."""
        data = read_regular(path, follow=False)
        if data is None:
            raise FilesError("%s changed while it was being set up, or is larger than %d bytes: not read" % (path, MAX_READ))
        return data

    def _set_attrs(self, path: str, attrs: Dict[str, Any], follow: bool = False) -> None:
        """Owner, group and mode of ``path``; of what a symlink points to only with ``follow``.
        Without it, through a descriptor of the file itself (O_NOFOLLOW): the file was found a
        regular file earlier, and one its owner swapped for a symlink since (the token's directory
        is istio-proxy's) must not lead the chmod to another file."""
        uid, gid = self._ids(attrs.get("owner"), attrs.get("group"))
        mode = int(attrs["mode"], 8) if attrs.get("mode") is not None else None
        if follow:
            if uid != -1 or gid != -1:
                os.chown(path, uid, gid)
            if mode is not None:
                os.chmod(path, mode)
            return
        try:
            handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise FilesError("%s changed while it was being set up: %s" % (path, exc.strerror)) from exc
        try:
            if not stat.S_ISREG(os.fstat(handle).st_mode):
                raise FilesError("%s changed while it was being set up: not a regular file any more" % path)
            if uid != -1 or gid != -1:
                os.fchown(handle, uid, gid)
            if mode is not None:
                os.fchmod(handle, mode)
        finally:
            os.close(handle)

    def _write(self, path: str, content: str, attrs: Dict[str, Any]) -> None:
        self._write_chunks(path, [content.encode("utf-8", "surrogateescape")], attrs)

    def _write_chunks(self, path: str, chunks: Iterable[bytes], attrs: Dict[str, Any],
                      verify: Optional[Callable[[str], None]] = None) -> None:
        """A temporary file in the same directory (created 0600: nobody else reads it while it is
        written), its owner and mode set, synced, then renamed over ``path``. ``verify`` gets the
        SHA-256 of what was written and may raise to keep ``path`` as it was; the temporary file
        is removed whenever the rename does not happen."""
        directory = os.path.dirname(path) or "."
        handle, temp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
        try:
            digest = hashlib.sha256() if verify is not None else None
            with os.fdopen(handle, "wb") as out:
                for chunk in chunks:
                    if digest is not None:
                        digest.update(chunk)
                    out.write(chunk)
                out.flush()
                if digest is not None:
                    verify(digest.hexdigest())
                uid, gid = self._ids(attrs.get("owner"), attrs.get("group"))
                if uid != -1 or gid != -1:
                    os.fchown(out.fileno(), uid, gid)
                os.fchmod(out.fileno(), int(attrs.get("mode") or "0644", 8))
                os.fsync(out.fileno())
            os.replace(temp, path)
        except BaseException:
            if os.path.lexists(temp):
                os.unlink(temp)
            raise
        if self.after_write is not None:
            self.after_write(path)
