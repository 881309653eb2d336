"""The local web app (``tecogan-ui``, ``python codes/app.py``; docs/ui.md).

* :mod:`tecogan.ui.store`: the app's state in one folder (``--workdir``): one folder per job with
  its ``job.json`` (written atomically), its input copy, its output and log;
* :mod:`tecogan.ui.runner`: the queue: each job runs as ``upscale.py --resume`` in a child process
  (the resumable job folders of :mod:`tecogan.segments`), so cancelling or a killed app keeps the
  finished segments and a restart continues them;
* :mod:`tecogan.ui.inputs`: uploads and ``--allow`` files checked like the command line's input,
  paths kept inside the work folder and the allowed folders;
* :mod:`tecogan.ui.frames`: the latest upscaled frame and the before/after comparison;
* :mod:`tecogan.ui.page`: the Gradio page and its ``upscale`` API endpoint.
"""
