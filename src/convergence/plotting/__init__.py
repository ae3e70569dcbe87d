"""plotting subpackage."""
