"""Files and jobs above the frame engine (:mod:`tecogan.inference`): one file-to-file job
(:mod:`~tecogan.jobs.video_job`, its options :mod:`~tecogan.jobs.video_options`), its segments
and resumable job folder (``segments``, ``job_folder``, ``job_state``, ``assembly``), scene cuts
and batches of many files."""
