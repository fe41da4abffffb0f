"""What glibc loads behind a dynamic program's back (NSS modules, libgcc_s), proven in a root
that holds nothing but the program's closure: the real loader and glibc are the oracle."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import materialize
from realtools import unavailable
from scratchpack.operations.closure import ClosureFinder, RootResolver, find_closure
from scratchpack.operations.glibc import glibc_version, nss_services, nss_sonames, runtime_sonames


def _host_glibc() -> tuple[int, int]:
    out = subprocess.run(["ldd", "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"(\d+)\.(\d+)\s*$", out.splitlines()[0])
    assert match
    return int(match[1]), int(match[2])


def test_the_glibc_version_is_read_from_libc_itself() -> None:
    closure = find_closure(Path("/"), "/bin/ls")
    assert glibc_version(RootResolver(Path("/")), closure.libraries["libc.so.6"]) == _host_glibc()


def test_a_file_without_the_banner_has_no_version(tmp_path: Path) -> None:
    (tmp_path / "libc.so.6").write_bytes(b"\x7fELF" + b"\0" * 5000)
    assert glibc_version(RootResolver(tmp_path), "/libc.so.6") is None
    assert glibc_version(RootResolver(tmp_path), "/nothing") is None


def test_nss_services_in_order_without_actions() -> None:
    conf = (
        "# comment\npasswd:  files systemd\ngroup: files\n"
        "hosts: files mdns4_minimal [NOTFOUND=return] dns\nnot-a-db: ldap\nnetgroup: nis\n"
    )
    assert nss_services(conf) == ["files", "systemd", "mdns4_minimal", "dns", "nis"]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ((2, 36), ["libnss_systemd.so.2"]),
        ((2, 31), ["libnss_files.so.2", "libnss_systemd.so.2", "libnss_dns.so.2",
                   "libresolv.so.2"]),
    ],
)  # fmt: skip
def test_files_and_dns_are_built_in_from_glibc_2_34(
    version: tuple[int, int], expected: list[str]
) -> None:
    assert nss_sonames("passwd: files systemd\nhosts: files dns\n", version) == expected


PROBE = r"""
#include <netdb.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void *sleeper(void *arg) { (void)arg; for (;;) pause(); return NULL; }

int main(void) {
    struct passwd *pw = getpwnam("app");
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo("db.internal", NULL, NULL, &ai);
    pthread_t t;
    pthread_create(&t, NULL, sleeper, NULL);
    pthread_cancel(t);  /* glibc dlopens libgcc_s.so.1 to unwind the cancelled thread */
    pthread_join(t, NULL);
    printf("user=%s uid=%d host=%s\n", pw ? pw->pw_name : "-", pw ? (int)pw->pw_uid : -1,
           rc == 0 ? "found" : gai_strerror(rc));
    return 0;
}
"""


def _run_in(root: Path, program: str) -> subprocess.CompletedProcess[str]:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        unavailable("chroot and mount need root and unshare")
    (root / "proc").mkdir(exist_ok=True)
    script = f'mount -t proc proc "{root}/proc" && exec chroot "{root}" "{program}"'
    return subprocess.run(["unshare", "-m", "-p", "-f", "sh", "-c", script],
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip


def test_lookups_and_cancellation_work_with_only_the_closure_and_what_glibc_loads(
    tmp_path: Path,
) -> None:
    probe = tmp_path / "probe"
    subprocess.run(["gcc", "-O1", "-pthread", "-o", str(probe), "-x", "c", "-"],
                   input=PROBE, text=True, check=True)  # fmt: skip
    root = tmp_path / "image"
    etc = root / "etc"
    etc.mkdir(parents=True)
    nsswitch = "passwd: files\ngroup: files\nhosts: files dns\n"
    (etc / "nsswitch.conf").write_text(nsswitch)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/sbin/nologin\napp:x:65532:65532::/:/x\n")
    (etc / "group").write_text("root:x:0:\napp:x:65532:\n")
    (etc / "hosts").write_text("127.0.0.1 localhost\n10.1.2.3 db.internal\n")
    finder = ClosureFinder(Path("/"))
    closure = finder.find(str(probe))  # the host is the root the program was built in
    assert closure.complete
    materialize(closure, Path("/"), root)

    without = _run_in(root, str(probe))
    assert without.returncode != 0, without.stdout  # what a bare closure gets
    assert "libgcc_s.so.1 must be installed for pthread_cancel" in without.stderr

    extra = runtime_sonames(closure, finder.resolver, nsswitch)
    assert extra == [*nss_sonames(nsswitch, _host_glibc()), "libgcc_s.so.1"]
    finder.add_dlopened(closure, extra)
    assert "libgcc_s.so.1" in closure.libraries and not closure.unavailable
    materialize(closure, Path("/"), root)
    ran = _run_in(root, str(probe))
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "user=app uid=65532 host=found\n"


def test_a_module_the_root_lacks_is_unavailable_not_missing(tmp_path: Path) -> None:
    finder = ClosureFinder(Path("/"))
    closure = finder.find("/bin/ls")
    finder.add_dlopened(closure, ["libnss_nosuchservice.so.2"])
    assert closure.unavailable == {"libnss_nosuchservice.so.2": "libc.so.6"}
    assert closure.complete  # the program still starts
