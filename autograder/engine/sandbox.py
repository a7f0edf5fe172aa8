"""The sandbox around one worker: what student code can see, use and leave behind.

``enter`` runs in the forked worker before any student code, in exactly the mode the trusted
side chose (``choose`` below, decided once per grading process by a canary that runs no student
code). It forks: the *supervisor* stays outside and only waits; the *sandboxed child* returns
from ``enter`` and runs the submission. A mode that cannot be set up raises ``SandboxFailed``:
there is no fallback to a weaker mode here or anywhere else.

Modes (see the README's threat model):

- ``namespaces`` (root): new mount, network, PID, IPC and UTS namespaces. The child sees a
  fresh root holding only the system folders, the Python environment and the few engine files
  the worker needs (its own probes among them), all read-only; the hidden suites, the rest of
  the kit, the course, HOME and /tmp are absent. Its network has only a loopback that is down.
  It is PID 1 of its own PID namespace, so when it ends the kernel kills every process it
  started, whatever they did (setsid, double fork). It runs as ``nobody`` with no capabilities.
- ``userns`` (a grader without root, unprivileged user namespaces allowed): the same namespaces
  inside a user namespace, with every capability dropped before student code runs. Refused
  when the grader runs as root (student code would keep uid 0 outside): use ``namespaces``.
- ``rlimits`` (only when the TA asks for it by name): resource limits, its own folder, and
  process clean-up through a subreaper supervisor. As root, student code runs as ``nobody`` (or
  the mode refuses); it can read what that user reads and reach the network.

Every mode: CPU-time, address-space, process-count, file-size and open-file limits, no core
dumps, ``no_new_privs`` (set-uid programs gain nothing). Only the standard library is used,
so the trusted side can import this module too (for ``kill_tree`` and ``describe``).
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import resource
import select
import shutil
import signal
import sys
import traceback
from dataclasses import dataclass
from typing import Any

NOBODY = 65534


@dataclass(frozen=True)
class Mode:
    """A sandbox mode and what it guarantees; the code below asks these, never the mode's name."""

    name: str
    isolated: bool  # own network, files (a new root) and processes (a PID namespace)
    user_namespace: bool  # set up inside an unprivileged user namespace (no root needed)
    needs_root: bool  # its namespaces can only be made by root

    def __str__(self) -> str:
        return self.name


NAMESPACES = Mode("namespaces", isolated=True, user_namespace=False, needs_root=True)
USERNS = Mode("userns", isolated=True, user_namespace=True, needs_root=False)
RLIMITS = Mode("rlimits", isolated=False, user_namespace=False, needs_root=False)
MODES = {m.name: m for m in (NAMESPACES, USERNS, RLIMITS)}

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
AT_FDCWD, AT_RECURSIVE = -100, 0x8000
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 1, 2, 4

PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_SECUREBITS = 1, 24, 28
PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 36, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SECBIT_NOROOT, SECBIT_NOROOT_LOCKED, SECBIT_KEEP_CAPS_LOCKED = 1, 2, 32
LINUX_CAPABILITY_VERSION_3 = 0x20080522

SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine())
SYS_MOUNT_SETATTR = 442  # the same number on every architecture

# /etc entries the Python runtime and the C library may read; nothing else of /etc is shown.
ETC_FILES = ("passwd", "group", "nsswitch.conf", "hosts", "localtime", "ld.so.cache",
             "ld.so.conf", "ld.so.conf.d", "fonts")
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt/conda")
DEVICES = ("null", "zero", "full", "random", "urandom")
ROOT_TMPFS = "size=64m,nr_inodes=16384,mode=755"

# Loaded now, in the fork server: after the root changes, a library may no longer be found.
_libc = ctypes.CDLL(None, use_errno=True)


class SandboxFailed(Exception):
    """Setting up ``mode`` failed after the point of no return: this worker must not run code."""

    def __init__(self, mode: str, message: str) -> None:
        super().__init__(f"the {mode} sandbox could not be set up: {message}")
        self.mode = mode


class _NotAvailable(Exception):
    """The mode cannot even start here (no privilege, no kernel support); try the next one."""


def _check(result: int, what: str) -> int:
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(s: str | None) -> bytes | None:
        return s.encode() if s is not None else None

    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {source or fstype} on {target}")


def _prctl(option: int, arg: int = 0) -> int:
    return _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl {option}")


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _read_only(target: str) -> None:
    """Make a bind mount and everything under it read-only (and nosuid, nodev)."""
    attr = _MountAttr(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0, 0, 0)
    rc = _libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, target.encode(), AT_RECURSIVE,
                       ctypes.byref(attr), ctypes.sizeof(attr))
    if rc == 0:
        return
    if ctypes.get_errno() != errno.ENOSYS:  # kernels before 5.12 lack mount_setattr
        _check(rc, f"read-only {target}")
    # Older kernels: remount the top mount only, keeping the flags a user namespace locks.
    flags = os.statvfs(target).f_flag
    keep = (MS_NOEXEC if flags & os.ST_NOEXEC else 0) | (1024 if flags & os.ST_NOATIME else 0) \
        | (2048 if flags & os.ST_NODIRATIME else 0) | ((1 << 21) if flags & os.ST_RELATIME else 0)
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | keep)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


# -- what the sandboxed child may see ---------------------------------------------------------


def visible_paths(spec: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(folders bound read-only into the new root, private folders covered, kit files shown).

    Essential paths (system folders, the Python installation) are always shown. Of the other
    ``sys.path`` entries only package folders (``site-packages``, e.g. a ``pip --user`` torch)
    are shown, and not when they contain a private path (the course, the notebook's folder,
    HOME, the grader's working folder). Of the kit itself only the files the trusted side
    listed (``box["files"]``: the worker, the protocol and this assignment's probes) are shown:
    its package folder is covered wherever a shown folder holds it, so the hidden suites, the
    corpus, other assignments and the variant profiles are absent.
    """
    box = spec["sandbox"]
    private = [os.path.abspath(p) for p in box.get("private", []) if p]
    package = os.path.abspath(box["package_dir"])
    files = sorted({os.path.abspath(f) for f in box.get("files", []) if os.path.isfile(f)})
    covered = [package, *private]
    essential = [*SYSTEM_DIRS, *(os.path.join("/etc", n) for n in ETC_FILES),
                 sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    extra = [os.path.abspath(p) for p in sys.path if p and os.path.isdir(p)
             and os.path.basename(p.rstrip("/")) in ("site-packages", "dist-packages")]
    extra = [p for p in extra if not any(_inside(c, p) for c in private)]
    shown: list[str] = []
    for path in sorted({os.path.abspath(p) for p in essential + extra}, key=len):
        if os.path.lexists(path) and not any(_inside(path, s) for s in shown):
            shown.append(path)
    hide = [c for c in covered if os.path.isdir(c) and any(_inside(c, s) and c != s for s in shown)
            and not any(_inside(e, c) for e in essential if os.path.exists(e))]
    return shown, hide, files


def _bind(source: str, root: str, read_only: bool = True) -> None:
    target = root + source
    if os.path.islink(source):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.symlink(os.readlink(source), target)
        return
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w"):
            pass
    _mount(source, target, None, MS_BIND | MS_REC)
    if read_only:
        _read_only(target)


def _build_root(spec: dict[str, Any], run_uid: int) -> None:
    """A new root on a tmpfs: shown paths read-only, private ones covered, own /tmp and /dev."""
    root = spec["workdir"]  # the tmpfs is mounted over the worker's host folder, in this namespace only
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, ROOT_TMPFS)
    shown, hide, files = visible_paths(spec)
    for path in shown:
        _bind(path, root)
    holders = []  # covers that kit files are shown through: writable until those are bound
    for path in hide:
        if any(_inside(f, path) for f in files):
            _mount("tmpfs", root + path, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
            holders.append(path)
        else:
            _mount("tmpfs", root + path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0")
    for path in files:
        _bind(path, root)
    for path in holders:
        _read_only(root + path)
    os.makedirs(root + "/dev", mode=0o755)
    for name in DEVICES:
        _bind("/dev/" + name, root, read_only=False)
    if spec["sandbox"].get("device") == "cuda":  # untested here: no GPU on the development machine
        for name in sorted(os.listdir("/dev")):
            if name.startswith("nvidia"):
                _bind("/dev/" + name, root, read_only=False)
        if os.path.isdir("/sys"):
            _bind("/sys", root)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    os.makedirs(root + "/dev/shm")
    _mount("tmpfs", root + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
    os.makedirs(root + "/proc")
    os.makedirs(root + "/tmp", mode=0o1777, exist_ok=True)
    os.chmod(root + "/tmp", 0o1777)
    os.makedirs(root + spec["workdir"], exist_ok=True)
    os.chown(root + spec["workdir"], run_uid, run_uid)
    os.chmod(root + spec["workdir"], 0o700)
    os.makedirs(root + "/.oldroot")
    if SYS_PIVOT_ROOT is None:
        raise OSError(errno.ENOSYS, f"pivot_root number unknown on {platform.machine()}")
    _check(_libc.syscall(SYS_PIVOT_ROOT, root.encode(), (root + "/.oldroot").encode()), "pivot_root")
    os.chdir("/")


def _finish_root() -> str:
    """In the new PID namespace: a /proc of its own, then the old root let go."""
    note = ""
    try:
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError as exc:  # a user namespace may refuse it; Python runs without /proc
        note = f"no /proc ({exc.strerror})"
    _check(_libc.umount2(b"/.oldroot", MNT_DETACH), "umount old root")
    os.rmdir("/.oldroot")
    return note


def _unshare(mode: Mode) -> None:
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    if mode.user_namespace:
        flags |= CLONE_NEWUSER
    elif os.geteuid() != 0:
        raise _NotAvailable("needs root")
    uid, gid = os.geteuid(), os.getegid()
    if not hasattr(_libc, "unshare") or SYS_PIVOT_ROOT is None:
        raise _NotAvailable("no unshare or pivot_root on this system")
    if _libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise _NotAvailable(os.strerror(err))
    if mode.user_namespace:
        try:  # map ourselves to root inside, so the set-up can mount; capabilities go later
            for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
                with open(f"/proc/self/{name}", "w") as f:
                    f.write(text)
        except OSError as exc:
            raise SandboxFailed(mode.name, f"cannot map user ids ({exc.strerror})") from None


# -- privileges and limits --------------------------------------------------------------------


def _readable_by_others(path: str) -> bool:
    """Whether ``nobody`` can reach and read ``path`` (every folder above it searchable)."""
    path = os.path.abspath(path)
    try:
        parts = path.split("/")
        for i in range(2, len(parts)):
            if not os.stat("/".join(parts[:i])).st_mode & 0o001:
                return False
        return bool(os.stat(path).st_mode & 0o004)
    except OSError:
        return False


def _nobody_cannot_run(kit: list[str]) -> str | None:
    """Why ``nobody`` could not run the worker without a new root (the rlimits mode as root)."""
    unreadable = sorted(p for p in {sys.prefix, sys.base_prefix, *kit} if not _readable_by_others(p))
    if not unreadable:
        return None
    return (f"as root, student code runs as nobody, who cannot read {unreadable[0]}: make the Python "
            "environment and the kit world-readable, or use the namespaces mode")


def _count_tasks(uid: int) -> int:
    """Tasks (threads included) that ``uid`` runs now: RLIMIT_NPROC counts them all."""
    count = 0
    for name in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{name}/task"))
            except OSError:
                pass
    return count


def _drop_capabilities() -> None:
    """No capability is left, none can come back (securebits locked, no_new_privs set)."""
    _prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_KEEP_CAPS_LOCKED)
    for cap in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break  # past the last capability this kernel knows
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(_libc.capset(header, data), "capset")


def _become(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def apply_limits(limits: dict[str, Any], nproc_base: int = 0) -> None:
    """Resource limits for the child and everything it starts; ``None`` leaves one as it is."""

    def cap(which: int, value: int | None) -> None:
        if value is None:
            return
        soft, hard = resource.getrlimit(which)
        new_hard = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (min(value, new_hard), new_hard))

    cap(resource.RLIMIT_CPU, limits.get("cpu_seconds"))
    cap(resource.RLIMIT_AS, limits.get("memory_bytes"))
    cap(resource.RLIMIT_FSIZE, limits.get("file_bytes"))
    cap(resource.RLIMIT_NOFILE, limits.get("open_files"))
    cap(resource.RLIMIT_CORE, 0)
    if limits.get("processes") is not None:
        cap(resource.RLIMIT_NPROC, limits["processes"] + nproc_base)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an over-long write fails with EFBIG instead


# -- process tree -----------------------------------------------------------------------------


def _process_table() -> tuple[dict[int, list[int]], set[int]]:
    """(parent pid -> children, pids of the dead), from /proc.

    A dead thread-group leader shows as a zombie while its other threads are still exiting,
    and the children those threads started still hang below it: the walk goes through
    zombies, and only the living are signalled.
    """
    children: dict[int, list[int]] = {}
    dead: set[int] = set()
    if not os.path.isdir("/proc"):  # not Linux: only the process group is killed
        return children, dead
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        if fields[0] in (b"Z", b"X"):
            dead.add(int(name))
        children.setdefault(int(fields[1]), []).append(int(name))
    return children, dead


def descendants(pid: int) -> list[int]:
    """Every living process below ``pid``, found through /proc (parents first)."""
    (children, dead), found, queue = _process_table(), [], [pid]
    while queue:
        for child in children.get(queue.pop(0), []):
            if child not in dead:
                found.append(child)
            queue.append(child)
    return found


def kill_tree(pid: int, include_root: bool = True) -> None:
    """Stop, then kill, everything below ``pid`` (and ``pid``): stopped processes cannot fork."""
    for _ in range(20):
        tree = descendants(pid)
        if not tree:
            break
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for p in tree:
                try:
                    os.kill(p, sig)
                except (ProcessLookupError, PermissionError):
                    pass
        if pid == os.getpid():
            _reap()
    if include_root:
        for kill in (os.killpg, os.kill):
            try:
                kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _supervise(child: int, sweep: bool, folder: tuple[int, str], parent: int) -> None:
    """The supervisor: wait for the sandboxed child, kill what it left, exit as it did.

    With a PID namespace the kernel has killed everything once the child (its PID 1) is gone;
    without one (``sweep``), this subreaper has adopted the orphans and kills them itself. It
    removes the worker's folder (``folder``: the parent folder's descriptor and the name) even
    when the grader is gone: its parent, the fork server, exits with the grader, and then this
    process is told by SIGTERM.
    """

    def remove_folder() -> None:
        shutil.rmtree(folder[1], dir_fd=folder[0], ignore_errors=True)

    def stop(*_: Any) -> None:
        try:
            os.kill(child, signal.SIGKILL)  # with a PID namespace, that ends everything in it
        except ProcessLookupError:
            pass
        if sweep:
            kill_tree(os.getpid(), include_root=False)
        remove_folder()
        os._exit(143)

    signal.signal(signal.SIGTERM, stop)
    if hasattr(_libc, "prctl"):
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the fork server went before the line above
        stop()
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except ChildProcessError:
            status = 0
            break
    if sweep:
        kill_tree(os.getpid(), include_root=False)
    remove_folder()
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


# -- entry point ------------------------------------------------------------------------------


def candidates(requested: str) -> list[str]:
    """The modes ``choose`` may pick, strongest first. ``auto`` never includes ``rlimits``,
    which does not isolate: it is used only when the TA asks for it by name."""
    if requested == "auto":
        return [NAMESPACES.name] if os.geteuid() == 0 else [USERNS.name]
    if requested not in MODES:
        raise ValueError(f"unknown sandbox mode {requested!r} (one of: auto, {', '.join(MODES)})")
    return [requested]


def describe(name: str, device: str = "cpu") -> dict[str, Any]:
    """What a mode guarantees, as the trusted side knows it: the one source of a result's
    ``sandbox`` field (nothing the worker says goes into it)."""
    mode = MODES[name]
    isolated = mode.isolated
    notes = []
    if not isolated:
        notes.append("weaker isolation, asked for by name: student code can read what the user nobody "
                     "reads and reach the network" if os.geteuid() == 0 else
                     "weaker isolation, asked for by name: student code runs as the grader's user, can read "
                     "its files and reach the network")
    if device == "cuda":
        notes.append("CUDA: /dev/nvidia* writable, /sys read-only, no address-space limit")
    return {"mode": mode.name, "uid": NOBODY if os.geteuid() == 0 or mode.needs_root else os.geteuid(),
            "network_isolated": isolated, "files_isolated": isolated, "processes_contained": isolated,
            "weaker": not isolated, "notes": notes}


def _close_fds_except(keep: set[int]) -> None:
    """Close every descriptor not in ``keep``: inherited ones are ways out of the sandbox."""
    previous = -1
    for fd in sorted(keep | {1 << 20}):
        if fd > previous + 1:
            os.closerange(previous + 1, fd)
        previous = fd


def enter(spec: dict[str, Any], keep_fds: tuple[int, ...] = ()) -> str:
    """Sandbox this worker in ``spec["sandbox"]["mode"]``; returns, in the sandboxed child only,
    the mode (which the trusted side already knows: it asked for it).

    ``keep_fds`` (besides stdin, stdout and stderr) stay open in the child: its pipe to the
    grader. Everything else inherited is closed, notably multiprocessing's descriptors (the fork
    server's "alive" pipe, which would keep the fork server running after the grader died, and
    the resource tracker's, which unlinks whatever names it is sent). Raises ``SandboxFailed``
    when the mode cannot be set up; nothing else is tried.
    """
    box = spec["sandbox"]
    if box["mode"] not in MODES:
        raise SandboxFailed(str(box["mode"]), "unknown mode")
    mode = MODES[box["mode"]]
    # Held by the supervisor only, to remove the worker's folder after the root has changed.
    folder = (os.open(os.path.dirname(spec["workdir"]), os.O_RDONLY | os.O_DIRECTORY),
              os.path.basename(spec["workdir"]))
    parent = os.getppid()
    euid = os.geteuid()
    if mode.user_namespace and euid == 0:
        raise SandboxFailed(mode.name, "the grader runs as root, where student code would keep uid 0 outside its "
                                  "user namespace; the namespaces mode gives the same isolation as nobody")
    if mode.isolated:
        try:
            _unshare(mode)
        except _NotAvailable as exc:
            raise SandboxFailed(mode.name, str(exc)) from None
        euid = os.geteuid()  # 0 inside a user namespace

    # Student code never runs as root: nobody, unless a user namespace made the grader root inside.
    run_uid = NOBODY if mode.needs_root or (not mode.isolated and euid == 0) else euid
    if not mode.isolated and euid == 0:
        problem = _nobody_cannot_run([*box.get("files", []), box["package_dir"]])
        if problem:  # student code never runs as root: refuse rather than keep uid 0
            raise SandboxFailed(mode.name, problem)
    nproc_base = 0
    if run_uid != 0 and not mode.user_namespace:
        nproc_base = _count_tasks(run_uid)  # RLIMIT_NPROC counts every task of that user
    if not mode.isolated:
        try:
            os.chown(spec["workdir"], run_uid, run_uid)
            if hasattr(_libc, "prctl"):
                _prctl(PR_SET_CHILD_SUBREAPER, 1)  # orphans come to the supervisor, which kills them
        except OSError as exc:
            raise SandboxFailed(mode.name, str(exc)) from None
    else:
        try:
            _build_root(spec, run_uid)
        except OSError as exc:
            raise SandboxFailed(mode.name, str(exc)) from None

    alive_r, alive_w = os.pipe()
    pid = os.fork()
    if pid:  # the supervisor never returns: it has closed the grader's channel
        try:
            _close_fds_except({0, 1, 2, alive_w, folder[0]})
            _supervise(pid, sweep=not mode.isolated, folder=folder, parent=parent)
        except BaseException:  # noqa: BLE001 - the child sees it go and reports it to the grader
            traceback.print_exc()  # to the worker's log
        os._exit(1)
    # The sandboxed child. It dies with the supervisor, even if that goes between fork and here.
    # (A folder descriptor from outside the new root would be a way out of it: closed here too.)
    _close_fds_except({0, 1, 2, alive_r, *keep_fds})
    try:
        os.setsid()  # its own session: nothing it signals by group reaches the supervisor
        if mode.isolated:
            _finish_root()
        os.chdir(spec["workdir"])
        apply_limits(spec["limits"], nproc_base)
        if mode.user_namespace:
            _drop_capabilities()  # root inside its user namespace until here, only for the set-up
        elif run_uid != euid:
            _become(run_uid)  # from root: every capability goes with it
        if os.geteuid() == 0 and not mode.user_namespace:
            raise OSError(errno.EPERM, "still root after the change of user")
        if hasattr(_libc, "prctl"):
            _prctl(PR_SET_NO_NEW_PRIVS, 1)
            # Dies with the supervisor. Set after the change of user, which clears it.
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError as exc:
        raise SandboxFailed(mode.name, str(exc)) from None
    if select.select([alive_r], [], [], 0)[0]:  # the supervisor went before the line above
        raise SandboxFailed(mode.name, "its supervising process stopped during the set-up")
    os.close(alive_r)
    return mode.name


def check_mode(name: str) -> str | None:
    """Whether ``mode`` can start on this machine: None, or why not. Costs one fork.

    The child only creates the namespaces and mounts a tmpfs, then exits; the kit's tests use
    it to skip, with the reason, what this machine cannot do.
    """
    mode = MODES[name]
    if not mode.isolated:
        return _nobody_cannot_run([os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]) \
            if os.geteuid() == 0 else None
    if mode.user_namespace and os.geteuid() == 0:
        return "refused as root (student code would keep uid 0 outside); use namespaces"
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read)
        try:
            _unshare(mode)
            _mount(None, "/", None, MS_REC | MS_PRIVATE)
            _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m")
            os._exit(0)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, whatever it is
            os.write(write, str(exc).encode()[:500])
            os._exit(1)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        message = f.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    return None if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else (message or f"status {status}")


def preflight(requested: str) -> tuple[str | None, str]:
    """(the mode ``requested`` would get here, or None; why the others would not), for a process
    that grades nothing itself (the batch's parent) to refuse before starting. The grading
    processes decide for themselves, with a canary worker (``student.choose_mode``)."""
    failures = []
    for mode in candidates(requested):
        problem = check_mode(mode)
        if problem is None:
            return mode, ""
        failures.append(f"{mode}: {problem}")
    return None, "; ".join(failures)
