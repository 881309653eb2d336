"""Paths compared by what they reach, not by how they are spelled (for
:func:`tecogan.utils.outputs.check_outputs`).

An existing path is its file identity (device and inode); a path that does not exist yet is its
nearest existing folder's identity plus the case-folded rest of the name.  So on a
case-insensitive file system ``IN.mp4`` is ``in.mp4``, and a hard link or a symlinked folder is
the file it reaches.
"""

import os


class FileIdentities:
    """File identities of paths and of their ancestors, cached per folder."""

    def __init__(self):
        self.cache = {}

    def _existing(self, path):
        """The identity of an existing (resolved) path."""
        if path not in self.cache:
            try:
                st = os.stat(path)
                self.cache[path] = ("inode", st.st_dev, st.st_ino)
            except OSError:  # no permission to look: the resolved spelling, case-folded
                self.cache[path] = ("path", os.path.normcase(path).casefold())
        return self.cache[path]

    def chain(self, path):
        """``[identity of path, of its folder, ..., of the root]``."""
        p = os.path.abspath(os.fspath(path))
        missing = []
        while not os.path.exists(p):
            head, tail = os.path.split(p)
            if head == p:
                break
            missing.append(tail)
            p = head
        p = os.path.realpath(p)
        up = []
        while True:
            up.append(self._existing(p))
            head = os.path.dirname(p)
            if head == p:
                break
            p = head
        chain = up
        for name in reversed(missing):  # top-down: each missing name under its parent's identity
            chain = [("name", chain[0], name.casefold())] + chain
        return chain


def input_paths(path, limit=100000):
    """The input, plus the symlinks directly inside an input folder (a frames folder made of
    links to other files protects those files too)."""
    found = [os.fspath(path)]
    if os.path.isdir(path):
        try:
            with os.scandir(path) as it:
                for k, entry in enumerate(it):
                    if k >= limit:
                        break
                    if entry.is_symlink():
                        found.append(entry.path)
        except OSError:
            pass
    return found
