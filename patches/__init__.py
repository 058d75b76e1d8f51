"""Every change to InvokeAI's own behaviour, one module per patch, applied before InvokeAI's app is imported.

Each patch was written against one InvokeAI release; `apply_all()` refuses to run on any other.
"""

from importlib.metadata import version

PINNED_INVOKEAI = "6.14.2"


class InvokeAIVersionMismatch(RuntimeError):
    pass


def check_invokeai_version() -> None:
    installed = version("invokeai")
    if installed != PINNED_INVOKEAI:
        raise InvokeAIVersionMismatch(
            f"Pingvas patches are written for InvokeAI {PINNED_INVOKEAI}, but {installed} is installed. "
            "Re-check every module in patches/ against the new release before changing the pin."
        )


_applied = False


def apply_all() -> None:
    """Check the version, then apply each patch once (idempotent)."""
    global _applied
    check_invokeai_version()
    if _applied:
        return
    from patches import (
        collection_size_bound,
        image_access_not_found,
        integer_exp_bound,
        node_memory_error,
        package_files_read_only,
        processor_gc,
        server_file_nodes,
        sockets_tenant_rooms,
        tile_count_bound,
    )

    sockets_tenant_rooms.apply()
    integer_exp_bound.apply()
    tile_count_bound.apply()
    collection_size_bound.apply()
    node_memory_error.apply()
    server_file_nodes.apply()
    image_access_not_found.apply()
    processor_gc.apply()
    package_files_read_only.apply()
    _applied = True


def apply_to_app(app) -> None:  # type: ignore[no-untyped-def]
    """Patches that need InvokeAI's built app (its routes)."""
    from patches import default_presets_operators_only, gzip_header_case, route_input_errors, route_not_found

    route_not_found.apply_to_app(app)
    route_input_errors.apply_to_app(app)
    default_presets_operators_only.apply_to_app(app)
    gzip_header_case.apply_to_app(app)
