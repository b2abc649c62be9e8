"""The migrations a deployment runs build the schema the models say, on the suite's database kind.

The suite's own test databases are made from the models directly (pytest-django's
`--no-migrations`, in pyproject.toml): rendering every migration cost each test worker half a
minute of CPU in each CI pass. These tests keep what that skipped honest: the models have no change
without its migration, and the migrations, run from nothing by `siyu migrate` as a deployment runs
them, give the same tables, columns, nullability, indexes and constraints as the models: one by
one, and as a new database's first run makes them (Siyu's tables from the models).
"""

import json
import os
import secrets
import subprocess
import sys
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def schema(conn) -> dict:
    """Each table's columns (and whether they take NULL) and the shapes of its constraints and
    indexes (their columns and kinds; names may differ)."""
    out = {}
    with conn.cursor() as cursor:
        for table in conn.introspection.table_names(cursor):
            if table == "django_migrations":
                continue
            columns = {c.name: bool(c.null_ok) for c in conn.introspection.get_table_description(cursor, table)}
            shapes = sorted(
                [sorted(c["columns"] or []), *(bool(c[kind]) for kind in ("unique", "primary_key", "foreign_key", "check", "index"))]
                for c in conn.introspection.get_constraints(cursor, table).values()
            )
            out[table] = {"columns": columns, "constraints": shapes}
    return out


def _migrated_schema(env: dict) -> tuple[dict, list]:
    """The schema of the database `env` names, and the migrations not yet applied to it."""
    code = (
        "import json; from django.db import connection; from django.db.migrations.executor import MigrationExecutor;"
        "from tests.test_migrations import schema; executor = MigrationExecutor(connection);"
        "unapplied = [str(m) for m, _ in executor.migration_plan(executor.loader.graph.leaf_nodes())];"
        "print('SCHEMA' + json.dumps([schema(connection), unapplied]))"
    )
    result = subprocess.run([sys.executable, "-m", "siyu.cli", "shell", "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return tuple(json.loads(result.stdout.split("SCHEMA", 1)[1]))


def _server(statement: str) -> None:
    settings = connection.settings_dict
    with psycopg.connect(
        dbname="postgres", user=settings["USER"], host=settings["HOST"], port=settings["PORT"] or 5432, password=settings["PASSWORD"] or None, autocommit=True
    ) as server:
        server.execute(statement)


def test_every_model_change_has_its_migration(db):
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out)
    except SystemExit:
        pytest.fail("models changed without a migration:\n" + out.getvalue())


@pytest.mark.django_db
@pytest.mark.parametrize("way", ["step_by_step", "first_run"])
def test_the_migrations_from_nothing_build_the_models_schema(tmp_path, way):
    """Step by step, as a deployment that upgrades runs them; and a new database's first run,
    which makes Siyu's tables from the models and records its migrations (kit's migrate)."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(SIYU_DATA_DIR=str(tmp_path), SIYU_SANDBOX="1", DJANGO_SETTINGS_MODULE="siyu.settings")
    made = None
    if connection.vendor == "postgresql":
        # A database of its own on the same server, dropped after (outside the test's transaction).
        made = f"siyu_migrations_{secrets.token_hex(4)}"
        _server(f'CREATE DATABASE "{made}"')
        settings = connection.settings_dict
        env["SIYU_DATABASE_URL"] = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT'] or 5432}/{made}"
    else:
        env.pop("SIYU_DATABASE_URL", None)  # a fresh SQLite file in tmp_path
    try:
        command = [sys.executable, "-m", "siyu.cli", "migrate", "--no-input", *(["--step-by-step"] if way == "step_by_step" else [])]
        migrate = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert migrate.returncode == 0, migrate.stderr[-3000:]
        assert ("Siyu's schema from its models" in migrate.stdout) == (way == "first_run"), migrate.stdout[-3000:]
        migrated, unapplied = _migrated_schema(env)
        # Every migration is recorded as applied: the next one a release brings runs on top.
        assert unapplied == []
    finally:
        if made:
            _server(f'DROP DATABASE IF EXISTS "{made}"')
    from_models = schema(connection)
    assert sorted(migrated) == sorted(from_models)
    for table, shape in from_models.items():
        assert migrated[table]["columns"] == shape["columns"], table
        assert migrated[table]["constraints"] == shape["constraints"], table
