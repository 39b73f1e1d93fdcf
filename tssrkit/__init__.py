"""tssr-kit harness: images, local lab, hosts, the Fabric runner and template rendering.

The scripts in ``scripts/`` do the work on a host; this package only gets them there and reads
their result line. See docs/explanation/design.md.
"""
