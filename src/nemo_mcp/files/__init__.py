"""Every local path decision: what may be read for upload, and where exports are written.

roots     the folders uploads may come from (the setting, narrowed by a client's roots)
uploads   opening a file for upload: confined, checked on the handle it is sent from
outputs   portable export names, and a free name in the output folder
partial   temporary download files: locked while written, swept after a crash, placed
          atomically
paths     small helpers: containment, resolution, paths in messages
"""
