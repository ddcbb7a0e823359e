"""What is inside a media file: its container (by its first bytes), what PyAV finds in it, and
pictures of a video.

    containers  recognise a container by its signature; which an extension may hold
    probe       duration, size and codecs with PyAV (optional), and the check of an export
    frames      a representative frame, and the poster a result shows

PyAV, numpy and Pillow are imported only when a function needs them.
"""
