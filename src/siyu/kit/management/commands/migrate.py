"""`siyu migrate`: Django's migrate, with a quick first run.

On a database that has none of Siyu's tables yet, Siyu's schema is made from the models in one
pass and Siyu's migrations are recorded as applied. The other apps' migrations run as usual:
those Siyu's depend on first (auth, content types), the rest after (admin, sessions, the task
queue, axes), and with them the post-migrate work (content types, permissions).

Run one by one, Siyu's 150-odd migrations took about a minute on SQLite, almost all of it Django
rendering the models' states again after each operation. Every first `siyu demo` and every new
deployment paid it. Both ways give the same schema: tests/test_migrations.py builds the database
both ways and compares each with the models. Siyu's data migrations only convert rows that
already exist, and a new database has none.

`--step-by-step` runs every migration, as Django's own command does. A database that already has
Siyu's tables is always migrated step by step.
"""

from django.apps import apps
from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

# Options that ask for something else than "bring this database up to date".
PARTICULAR = ("app_label", "migration_name", "plan", "fake", "fake_initial", "prune", "check_unapplied", "run_syncdb")


class Command(DjangoMigrate):
    help = DjangoMigrate.help + " A new database gets Siyu's schema from the models in one pass (--step-by-step: every migration)."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--step-by-step", action="store_true", help="run every migration, also on a new database")

    def handle(self, *args, **options):
        step_by_step = options.pop("step_by_step", False)
        if not step_by_step and not any(options.get(name) for name in PARTICULAR):
            self._first_run(connections[options["database"]], options["verbosity"])
        return super().handle(*args, **options)

    def _first_run(self, connection, verbosity: int) -> None:
        """Make Siyu's schema from the models if the database has none of it; else nothing."""
        executor = MigrationExecutor(connection)
        graph = executor.loader.graph
        ours = {node for node in graph.nodes if _is_ours(node[0])}
        if not ours or any(_is_ours(app) for app, _ in executor.recorder.applied_migrations()):
            return  # Siyu's migrations are turned off (the test databases), or some have run
        labels = sorted({app for app, _ in ours})
        with connection.cursor() as cursor:
            tables = set(connection.introspection.table_names(cursor))
        if any(model._meta.db_table in tables for model in _models(labels)):
            return  # tables without their migrations recorded: not ours to guess about
        if verbosity >= 1:
            self.stdout.write(self.style.MIGRATE_HEADING("A new database: Siyu's schema from its models"))
        # What Siyu's migrations build on (auth, content types) is migrated first, as usual.
        before = {parent for node in ours for parent in graph.forwards_plan(node) if not _is_ours(parent[0])}
        if before:
            # Each app's furthest migration among them: a target is where its app ends up.
            furthest: dict[str, tuple] = {}
            for node in before:
                if node[0] not in furthest or furthest[node[0]] in graph.forwards_plan(node):
                    furthest[node[0]] = node
            executor.migrate(sorted(furthest.values()))
        self.verbosity = verbosity
        self.sync_apps(connection, labels)
        recorder = MigrationRecorder(connection)
        for app, name in sorted(ours):
            recorder.record_applied(app, name)


def _is_ours(app_label: str) -> bool:
    config = apps.app_configs.get(app_label)
    return config is not None and config.name.startswith("siyu.")


def _models(labels: list[str]) -> list:
    return [model for label in labels for model in apps.get_app_config(label).get_models(include_auto_created=True)]
