"""Offline dataset tooling: label exporters and the synthetic generator.

Run through the thin scripts ``tools/create_synthetic_kitti.py``,
``tools/create_tartanair_ssc.py`` and ``tools/create_data.py``; the plugin
(``projects.OccDepth``) never imports these modules.
"""
