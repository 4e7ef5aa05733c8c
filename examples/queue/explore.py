"""One round of exploration, as a notebook cell: read the runs done so far from the store, and queue a grid
twice as fine around the best one for the workers (`runyard worker`) to run. Run it again for the next round.

    runyard submit                 # the coarse grid of runyard.yaml
    runyard worker --burst         # or workers on other machines, against the same store
    python explore.py              # then workers again, then explore.py again ...
"""

import itertools

import runyard

yard = runyard.open()  # the home: $RUNYARD_HOME, else the nearest .runyard folder
runs = yard.runs("hyperspace").df
done = runs[runs["status"] == "done"].sort_values("loss")
best = done.iloc[0]
xs = sorted(set(done["x"]))
step = min(b - a for a, b in itertools.pairwise(xs)) / 2
xs, ys = ([round(best[axis] + d * step, 6) for d in (-1, 0, 1)] for axis in ("x", "y"))
queued = yard.submit("hyperspace", x=xs, y=ys)  # a list is an axis: a 3 x 3 grid, the done ones cached
print(f"{len(done)} runs done; best x={best['x']} y={best['y']} loss={best['loss']:.4f}; "
      f"queued a grid with step {step} around it: {queued.runs_added} new runs")
