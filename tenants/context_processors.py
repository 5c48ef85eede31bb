def current_lab(request):
    """The lab and membership a lab view resolved, for the page header and navigation."""
    return {
        "lab": getattr(request, "lab", None),
        "membership": getattr(request, "membership", None),
    }
