"""Stop a run after an epoch, as a kill would, to test resuming."""


class Interrupt(Exception):
    pass


def stop_after(epoch: int):
    """An epoch hook that raises once `epoch` epochs are done (and checkpointed, where due)."""

    def hook(done, step):
        if done == epoch:
            raise Interrupt

    return hook
