"""Registers ``twistd stws``: installed with the package (a wheel puts it in
site-packages/twisted/plugins), and put on sys.path for a checkout by the
.pth file scripts/setup writes."""
from stws.twistd import SERVICE_MAKER as stws  # noqa: F401 - twistd finds IServiceMaker objects by module attribute
