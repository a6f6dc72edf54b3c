# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""sidecar_package_info's pure parts: dpkg-query lines, dpkg's journal, the file's SHA-256, the VM's
facts and the package file of its format."""
from __future__ import annotations

import hashlib

import pytest

from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError
from ansible_collections.meshops.istio_vm.plugins.module_utils._package import (
    DownloadFailed, changed_after_start, choose_package, config_leftovers, deb_depends_installed, deb_depends_names,
    journal_interrupted, os_facts, parse_deb_conffiles, parse_deb_fields, parse_deb_md5sums, parse_deb_query, parse_deb_statuses,
    parse_invocation_id, parse_os_release, parse_rpm_digests, parse_unit_run, process_started, read_config_files, read_package, sha256_of,
    with_retries)
from ansible_collections.meshops.istio_vm.plugins.module_utils._vmstate import files_changed_after_start


@pytest.mark.parametrize("line,expected", [
    ("ii |1:1.24.0", (True, "1:1.24.0")),
    ("ii |1.24.0-1 ", (True, "1.24.0-1")),
    # unpacked, half-configured, removed with its configuration: not installed, no version
    ("iU |1.24.0", (False, "")),
    ("iF |1.24.0", (False, "")),
    ("rc |1.24.0", (False, "")),
    ("un |", (False, "")),
    # dpkg does not know the package (dpkg-query exits 1, prints nothing)
    ("", (False, "")),
    (None, (False, "")),
])
def test_parse_deb_query(line, expected):
    assert parse_deb_query(line) == expected


# What dpkg-deb --field FILE Version Depends Pre-Depends Conflicts Breaks prints for the sidecar's
# package (fields the file lacks are left out).
SIDECAR_FIELDS = "Version: 1:1.24.0\nDepends: iproute2, iptables, sudo, hostname\n"
INSTALLED = {"iproute2": "ii ", "iptables": "ii ", "sudo": "hi ", "hostname": "ii "}


def test_parse_deb_fields():
    assert parse_deb_fields(SIDECAR_FIELDS) == {"Version": "1:1.24.0", "Depends": "iproute2, iptables, sudo, hostname"}
    assert parse_deb_fields("Depends: a,\n b (>= 1:2.0)\nBreaks: c\n") == {"Depends": "a, b (>= 1:2.0)", "Breaks": "c"}
    assert parse_deb_fields("") == {} and parse_deb_fields(None) == {}


def test_deb_depends_names():
    assert deb_depends_names(parse_deb_fields(SIDECAR_FIELDS)) == ["hostname", "iproute2", "iptables", "sudo"]
    fields = {"Depends": "iproute2 | iproute, libc6:any (>= 2.34)", "Pre-Depends": "dpkg (>= 1.17)", "Conflicts": "x"}
    assert deb_depends_names(fields) == ["dpkg", "iproute", "iproute2", "libc6"]
    assert deb_depends_names({}) == []


def test_parse_deb_statuses():
    # dpkg-query prints the packages it knows; ${db:Status-Abbrev} keeps its trailing blank
    assert parse_deb_statuses("iproute2|ii \nsudo|rc \n") == {"iproute2": "ii ", "sudo": "rc "}
    assert parse_deb_statuses("") == {}


@pytest.mark.parametrize("fields,statuses,expected", [
    (parse_deb_fields(SIDECAR_FIELDS), INSTALLED, True),
    ({}, {}, True),                                                       # depends on nothing
    # one missing, removed with its configuration kept, unpacked only, or broken: apt-get
    (parse_deb_fields(SIDECAR_FIELDS), dict(INSTALLED, sudo=""), False),
    (parse_deb_fields(SIDECAR_FIELDS), {k: v for k, v in INSTALLED.items() if k != "sudo"}, False),
    (parse_deb_fields(SIDECAR_FIELDS), dict(INSTALLED, sudo="rc "), False),
    (parse_deb_fields(SIDECAR_FIELDS), dict(INSTALLED, sudo="iU "), False),
    (parse_deb_fields(SIDECAR_FIELDS), dict(INSTALLED, sudo="iiR"), False),
    # the status without its trailing blank
    (parse_deb_fields(SIDECAR_FIELDS), dict(INSTALLED, sudo="ii"), True),
    # one installed alternative suffices; an architecture qualifier names the same package
    ({"Depends": "iproute2 | iproute, sudo:any"}, {"iproute": "ii ", "sudo": "ii "}, True),
    ({"Depends": "iproute2 | iproute"}, {}, False),
    # a version constraint, a conflict or a break: apt-get decides
    ({"Depends": "sudo (>= 1.9)"}, {"sudo": "ii "}, False),
    ({"Depends": "sudo (>= 1.9) | sudo-ldap"}, {"sudo": "ii ", "sudo-ldap": "ii "}, True),
    ({"Pre-Depends": "dpkg"}, {}, False),
    ({"Depends": "sudo", "Conflicts": "istio-sidecar-old"}, {"sudo": "ii "}, False),
    ({"Depends": "sudo", "Breaks": "x (<< 2)"}, {"sudo": "ii "}, False),
])
def test_deb_depends_installed(fields, statuses, expected):
    assert deb_depends_installed(fields, statuses) is expected


def test_journal_interrupted(tmp_path):
    assert journal_interrupted(str(tmp_path / "missing")) is False
    assert journal_interrupted(str(tmp_path)) is False
    (tmp_path / "sub").mkdir()
    assert journal_interrupted(str(tmp_path)) is False, "a directory is not a journal entry"
    (tmp_path / "0001").write_text("x")
    assert journal_interrupted(str(tmp_path)) is True


def test_sha256_of_reads_the_whole_file(tmp_path):
    data = b"deb" * 700000  # more than one 1 MiB chunk
    path = tmp_path / "istio-sidecar.deb"
    path.write_bytes(data)
    assert sha256_of(str(path)) == hashlib.sha256(data).hexdigest()


# --- The facts the role needs, from os-release, the machine name and systemd --------------------------

@pytest.mark.parametrize("text,expected", [
    ('ID=debian\nNAME="Debian GNU/Linux"\n', {"ID": "debian", "NAME": "Debian GNU/Linux"}),
    ("# a comment\n\nID_LIKE='rhel centos fedora'\nbroken line\n", {"ID_LIKE": "rhel centos fedora"}),
    ('PRETTY_NAME="A \\"quoted\\" name"', {"PRETTY_NAME": 'A "quoted" name'}),
    ("VERSION_ID=12", {"VERSION_ID": "12"}),
    ("", {}),
    (None, {}),
])
def test_parse_os_release(text, expected):
    assert parse_os_release(text) == expected


@pytest.mark.parametrize("release,family,distribution", [
    ({"ID": "debian", "NAME": "Debian GNU/Linux"}, "Debian", "Debian"),
    ({"ID": "ubuntu", "ID_LIKE": "debian", "NAME": "Ubuntu"}, "Debian", "Ubuntu"),
    ({"ID": "rhel", "ID_LIKE": "fedora", "NAME": "Red Hat Enterprise Linux"}, "RedHat", "RedHat"),
    ({"ID": "rocky", "ID_LIKE": "rhel centos fedora", "NAME": "Rocky Linux"}, "RedHat", "Rocky"),
    ({"ID": "amzn", "ID_LIKE": "centos rhel fedora", "NAME": "Amazon Linux"}, "RedHat", "Amazon"),
    ({"ID": "opensuse-leap", "ID_LIKE": "suse opensuse", "NAME": "openSUSE Leap"}, "Suse", "openSUSE Leap"),
    # a derivative known only by its ID_LIKE
    ({"ID": "mydeb", "ID_LIKE": "ubuntu debian", "NAME": "My Deb"}, "Debian", "My"),
    # a family nothing names: the distribution's own name, as setup reports it
    ({"ID": "nixos", "NAME": "NixOS"}, "NixOS", "NixOS"),
    ({"ID": "void"}, "Void", "Void"),
    ({}, "Unknown", "Unknown"),
])
def test_os_facts_family_and_distribution(release, family, distribution):
    facts = os_facts(release, "x86_64", True)
    assert (facts["os_family"], facts["distribution"]) == (family, distribution)


@pytest.mark.parametrize("machine,booted,init,expected", [
    ("x86_64", True, "systemd\n", {"architecture": "x86_64", "service_mgr": "systemd"}),
    ("aarch64", True, "", {"architecture": "aarch64", "service_mgr": "systemd"}),
    # not booted by systemd: process 1 names the manager, as setup's fallback does
    ("x86_64", False, "systemd\n", {"architecture": "x86_64", "service_mgr": "systemd"}),
    ("x86_64", False, "openrc-init\n", {"architecture": "x86_64", "service_mgr": "openrc-init"}),
    ("x86_64", False, "", {"architecture": "x86_64", "service_mgr": "unknown"}),
])
def test_os_facts_architecture_and_service_manager(machine, booted, init, expected):
    facts = os_facts({"ID": "debian"}, machine, booted, init)
    assert {key: facts[key] for key in expected} == expected


DEB, RPM = "/cache/istio-sidecar-abc.deb", "/cache/istio-sidecar-abc.rpm"
PATHS = {"deb": DEB, "rpm": RPM}
FORMATS = {"Debian": "deb", "RedHat": "rpm"}


@pytest.mark.parametrize("fmt,formats,path,paths,family,expected", [
    # the module's first form: a path and a format (deb when none)
    ("rpm", None, RPM, None, "", ("rpm", RPM)),
    (None, None, DEB, None, "", ("deb", DEB)),
    # the format of the VM's family, and that format's file
    (None, FORMATS, None, PATHS, "Debian", ("deb", DEB)),
    (None, FORMATS, None, PATHS, "RedHat", ("rpm", RPM)),
    # a format given wins over the family's
    ("rpm", FORMATS, None, PATHS, "Debian", ("rpm", RPM)),
    (None, FORMATS, DEB, None, "Debian", ("deb", DEB)),
    # no format for the family, or no file for the format: no package read
    (None, FORMATS, None, PATHS, "Suse", ("", "")),
    (None, FORMATS, DEB, None, "Alpine", ("", "")),
    ("rpm", None, None, {"deb": DEB}, "", ("", "")),
    (None, {}, None, PATHS, "Debian", ("", "")),
])
def test_choose_package(fmt, formats, path, paths, family, expected):
    assert choose_package(fmt, formats, path, paths, family) == expected


# --- with_retries: the attempts of a download --------------------------------------------------------

def attempts_of(outcomes):
    """An attempt that fails or returns as ``outcomes`` say, in order, and the sleeps between them."""
    outcomes, slept = list(outcomes), []

    def attempt():
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome
    return attempt, slept


def test_the_first_attempt_that_works_ends_it():
    attempt, slept = attempts_of([DownloadFailed("Request failed", 503), "done"])
    assert with_retries(attempt, 3, 5, slept.append) == ("done", 2)
    assert slept == [5]


def test_every_attempt_failed_names_the_last_reason_and_counts_them_all():
    attempt, slept = attempts_of([DownloadFailed("Request failed: <urlopen error timed out>")] * 2
                                 + [DownloadFailed("Request failed", 404)])
    with pytest.raises(MeshError) as caught:
        with_retries(attempt, 2, 1, slept.append)
    assert caught.value.message == "Request failed"
    assert caught.value.details == {"status_code": 404, "attempts": 3}
    assert slept == [1, 1]


def test_a_checksum_mismatch_is_not_tried_again():
    attempt, slept = attempts_of([DownloadFailed("Request failed", 500),
                                  DownloadFailed("The checksum ... did not match", 200, retry=False), "never"])
    with pytest.raises(MeshError) as caught:
        with_retries(attempt, 3, 5, slept.append)
    assert caught.value.details == {"status_code": 200, "attempts": 2}
    assert slept == [5]


def test_no_retries_is_one_attempt():
    attempt, slept = attempts_of([DownloadFailed("Request failed", 404), "never"])
    with pytest.raises(MeshError) as caught:
        with_retries(attempt, 0, 5, slept.append)
    assert caught.value.details["attempts"] == 1 and slept == []


@pytest.mark.parametrize("text, expected", [
    ("6f1c8a3e0b9d4c2a8e7f5d3b1a0c9e8d\n", "6f1c8a3e0b9d4c2a8e7f5d3b1a0c9e8d"),
    ("\n", ""),                                        # a unit that never ran
    ("", ""),
    ("6F1C8A3E0B9D4C2A8E7F5D3B1A0C9E8D\n", ""),        # not as systemd prints it
    ("6f1c8a3e0b9d4c2a8e7f5d3b1a0c9e8\n", ""),         # 31 digits
    ("6f1c8a3e0b9d4c2a8e7f5d3b1a0c9e8d; reboot\n", ""),
    (None, ""),
])
def test_parse_invocation_id(text, expected):
    """The ID reaches a shell on the VM (tasks/service_start.yml): only 32 lowercase hex digits pass."""
    assert parse_invocation_id(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("InvocationID=6f1c8a3e0b9d4c2a8e7f5d3b1a0c9e8d\nMainPID=4242\n", ("6f1c8a3e0b9d4c2a8e7f5d3b1a0c9e8d", 4242)),
    ("MainPID=4242\nInvocationID=6f1c8a3e0b9d4c2a8e7f5d3b1a0c9e8d\n", ("6f1c8a3e0b9d4c2a8e7f5d3b1a0c9e8d", 4242)),
    ("InvocationID=\nMainPID=0\n", ("", 0)),                       # a unit that never ran
    ("InvocationID=x; reboot\nMainPID=-1\n", ("", 0)),
    ("", ("", 0)),
    (None, ("", 0)),
])
def test_parse_unit_run(text, expected):
    assert parse_unit_run(text) == expected


PROC_STAT = "cpu  1 2 3 4\nbtime 1764990000\nprocesses 7\n"


def stat_line(comm, starttime):
    fields = ["S", "1", "7195", "7195", "0", "-1", "4194304", "134", "0", "0", "0", "0", "0", "0", "0", "20", "0",
              "1", "0", str(starttime), "3133440", "390"]
    return "7199 (%s) %s\n" % (comm, " ".join(fields))


def test_process_started_counts_its_clock_ticks_from_the_boot():
    assert process_started(stat_line("pilot-agent", 250), PROC_STAT, 100) == 1764990002.5
    # a name with spaces and parentheses does not shift the fields
    assert process_started(stat_line("a) b (c", 250), PROC_STAT, 100) == 1764990002.5


@pytest.mark.parametrize("stat, proc_stat", [
    ("", PROC_STAT),                                    # the process has gone
    ("7199 (x) S 1", PROC_STAT),
    (stat_line("x", "soon"), PROC_STAT),
    (stat_line("x", 250), "cpu 1 2 3\n"),               # no boot time
    (stat_line("x", 250), "btime never\n"),
])
def test_process_started_unknown(stat, proc_stat):
    assert process_started(stat, proc_stat, 100) is None


def test_changed_after_start_leaves_the_second_of_the_start_alone():
    changes = {"/etc/istio/config/mesh": 1000.0, "/var/lib/istio/envoy/cluster.env": 1002.0,
               "/usr/local/bin/pilot-agent": 1002.5, "/lib/systemd/system/istio.service": 900.0}
    # written with the run's restart (within the start's second and the margin): not after it
    assert changed_after_start(changes, 1000.4) == ["/usr/local/bin/pilot-agent"]
    assert changed_after_start(changes, 990.0) == ["/etc/istio/config/mesh", "/usr/local/bin/pilot-agent",
                                                   "/var/lib/istio/envoy/cluster.env"]
    assert changed_after_start(changes, None) == []


def test_files_changed_after_start_reads_the_process_and_the_files(tmp_path):
    """PID 1 started before this test wrote its file (with the machine or the container)."""
    written = tmp_path / "cluster.env"
    written.write_text("x")
    assert files_changed_after_start(1, [str(written), str(tmp_path / "missing")]) == [str(written)]
    assert files_changed_after_start(0, [str(written)]) == []           # no main process: not running
    assert files_changed_after_start(1, []) == []


def test_parse_deb_conffiles():
    text = (" /var/lib/istio/envoy/sidecar.env 6d1c0b5c0e5c3c1b7d2f6c7e0a1b2c3d\n"
            " /etc/old.conf 0123456789abcdef0123456789ABCDEF obsolete\n"
            "\n")
    assert parse_deb_conffiles(text) == {"/var/lib/istio/envoy/sidecar.env": "6d1c0b5c0e5c3c1b7d2f6c7e0a1b2c3d",
                                         "/etc/old.conf": "0123456789abcdef0123456789abcdef"}
    assert parse_deb_conffiles("") == {}


def test_parse_deb_md5sums():
    text = "0123456789abcdef0123456789abcdef  usr/local/bin/istio-start.sh\nfedcba98  lib/systemd/system/istio.service\n"
    assert parse_deb_md5sums(text) == {"/usr/local/bin/istio-start.sh": "0123456789abcdef0123456789abcdef",
                                       "/lib/systemd/system/istio.service": "fedcba98"}


def test_parse_rpm_digests():
    text = ("/var/lib/istio/envoy/sidecar.env\t8\tABCDEF\n"
            "/var/lib/istio/envoy\t8\t\n"          # a directory: no digest
            "/usr/local/bin/old\t1\tabc\n"
            "/usr/local/bin/odd\t99\tabc\n"       # an algorithm hashlib is not asked for
            "/usr/local/bin/untagged\t(none)\tdef\n")   # a package without the tag: MD5
    assert parse_rpm_digests(text) == {"/var/lib/istio/envoy/sidecar.env": ("sha256", "abcdef"),
                                       "/usr/local/bin/old": ("md5", "abc"), "/usr/local/bin/untagged": ("md5", "def")}


def test_config_leftovers_are_the_package_managers_files_beside_the_config_files(tmp_path):
    env, tmpl = tmp_path / "sidecar.env", tmp_path / "envoy_bootstrap_tmpl.json"
    for name in ("sidecar.env", "sidecar.env.dpkg-dist", "sidecar.env.dpkg-old", "sidecar.env.rpmnew",
                 "envoy_bootstrap_tmpl.json", "envoy_bootstrap_tmpl.json.rpmsave", "other.dpkg-dist"):
        (tmp_path / name).write_text("x")
    (tmp_path / "envoy_bootstrap_tmpl.json.dpkg-dist").symlink_to(tmp_path / "nowhere")   # a dangling link counts
    assert config_leftovers([str(env), str(tmpl), str(env)], "deb") == [
        str(tmpl) + ".dpkg-dist", str(env) + ".dpkg-dist", str(env) + ".dpkg-old"]
    assert config_leftovers([str(env), str(tmpl)], "rpm") == [str(tmpl) + ".rpmsave", str(env) + ".rpmnew"]
    assert config_leftovers([str(tmp_path / "missing")], "deb") == []
    assert config_leftovers([], "rpm") == []


class Commands:
    """The commands read_package runs, answered from a table (argv tuple -> (rc, out, err))."""

    def __init__(self, answers):
        self.answers, self.ran = answers, []

    def run_command(self, argv):
        self.ran.append(tuple(argv))
        return self.answers.get(tuple(argv), (1, "", "unknown command"))


CONFFILES = ("dpkg-query", "--show", "--showformat=${Conffiles}\n", "istio-sidecar")
STATUS = ("dpkg-query", "--show", "--showformat=${db:Status-Abbrev}|${Version}", "istio-sidecar")


def test_read_config_files_from_dpkg_and_rpm():
    deb = Commands({CONFFILES: (0, " /var/lib/istio/envoy/sidecar.env 0123abcd\n /etc/x.conf 4567ef obsolete\n\n", "")})
    assert read_config_files(deb, "istio-sidecar", True) == ["/etc/x.conf", "/var/lib/istio/envoy/sidecar.env"]
    rpm = Commands({("rpm", "--query", "--configfiles", "istio-sidecar"): (0, "/var/lib/istio/envoy/sidecar.env\n", "")})
    assert read_config_files(rpm, "istio-sidecar", False) == ["/var/lib/istio/envoy/sidecar.env"]
    # the package is not installed: the database says nothing
    assert read_config_files(Commands({}), "istio-sidecar", True) == []
    assert read_config_files(Commands({}), "istio-sidecar", False) == []


def test_read_package_reads_the_leftovers_only_when_asked_and_installed(tmp_path):
    env = tmp_path / "sidecar.env"
    env.write_text("mine")
    (tmp_path / "sidecar.env.dpkg-dist").write_text("the package's")
    answers = {STATUS: (0, "ii |1.24.0", ""), CONFFILES: (0, " %s 0123abcd\n" % env, "")}
    missing = str(tmp_path / "none.deb")
    assert read_package(Commands(answers), missing, True, "istio-sidecar", leftovers=True)["installed"] == {
        "present": True, "version": "1.24.0", "query": "ii |1.24.0", "config_leftovers": [str(env) + ".dpkg-dist"]}
    quiet = Commands(answers)
    assert "config_leftovers" not in read_package(quiet, missing, True, "istio-sidecar")["installed"]
    assert CONFFILES not in quiet.ran
    removed = Commands({**answers, STATUS: (0, "rc |1.24.0", "")})
    assert read_package(removed, missing, True, "istio-sidecar", leftovers=True)["installed"]["config_leftovers"] == []
    assert CONFFILES not in removed.ran
