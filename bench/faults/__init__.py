"""The fault suite's parts (bench/fault_suite.py is the entry point).

- processes: the simulator, the worker (`manage.py qcluster`) and the web (gunicorn), reusing the benchmark's
  helpers, plus the signals the scenarios send them;
- database: a fresh SQLite file or PostgreSQL database per scenario, and the database faults;
- world: one scenario's accounts, policies, resting orders, people (through heartbeats.desk.actions and the
  web) and the operator's intent, recorded as it happens;
- truth: the verdict, from the simulator's ground truth only (its countdowns, cancellations and request log);
- scenarios, incidents, options: one small function per scenario (options: the Options venue's rows);
- runner: runs one scenario in its own process, and the table.
"""
