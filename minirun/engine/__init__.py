"""The engine: many containers, images, storage and networks.

It turns an image and flags into an OCI bundle and hands it to the runtime;
it never forks containers itself.  It arrives with the images issue.
"""
