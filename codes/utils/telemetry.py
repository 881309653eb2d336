"""OpenVINO's and NNCF's usage telemetry, declined for this process."""


def decline_telemetry():
    """Decline OpenVINO's and NNCF's usage telemetry for this process.

    Unless a user has opted out, ``convert_model`` and ``nncf.quantize`` send usage events, each
    from a process forked (multiprocessing) out of this one while torch's and OpenVINO's thread
    pools run; such forks left a test process spinning forever in a torch copy, and nobody asked
    this tool to report anything.  The library's own consent check answers "declined" here; the
    user's consent file is neither read nor written."""
    try:
        from openvino_telemetry import Telemetry  # comes with openvino (optional backend)
        from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker
    except ImportError:
        return
    OptInChecker.check = lambda self, *args, **kwargs: ConsentCheckResult.DECLINED
    instance = getattr(Telemetry, "_SingletonMetaClass__single_instance", None)
    if instance is not None:  # made before this call (nncf imported first): silence it too
        instance.consent = False
