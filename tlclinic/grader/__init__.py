"""The grader: submitted lesson notebooks in; points, grades.json and .csv and feedback pages out.  Its command
line is ``tlclinic-grade`` (``tlclinic.commands.grade``); nothing here imports a command.

A submitted file is read, never changed or executed as it is.  For each submission:

1. ``submissions``: its answer, taken in the sandbox.  The answer cells (the nbgrader solution cells, found by
   their grade id, or else by the name they define) run after the lesson's own set-up cell in a jailed process
   (``sandbox``, through ``jail``), which hands back the answer as data;
2. ``judge``: the verdicts.  A fresh verifier process (``verdict``), in which no student code runs, rebuilds the
   answer from that data, trains it and checks it at each graded test's seed.  On a job the answers leave free it
   starts with the answer's process and imports Keras meanwhile, so a submission graded alone waits for one
   start-up, not two.  Its verdicts are the grade:
   nothing the notebook prints or stores is read;
3. ``shards``: which submissions a run grades (``--shard K/N``, a share of the students), the manifest of what it
   graded (a submission unchanged since the last run keeps its rows), and the merge of shards into one course;
4. ``reports``: grades.json, grades.csv, a feedback page per submission, the table.

Points per test come from the lesson's source (``solutions/``), never from the submission.  When the machine
fails (the set-up cell or the verifier does not finish in time, the sandbox cannot start), the submission is
tried once more with twice the time limit; if it fails again its rows get status ``not graded`` with the
reason.  A student's own endless loop, crash or exit earns 0.
"""
