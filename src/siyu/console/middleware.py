class ChineseFirstMiddleware:
    """The console speaks Chinese unless the user picked English in the switcher.

    Brands' operators often run English-language browsers; following Accept-Language would show
    them a console their colleagues do not see. The switcher's cookie is the only way to English.
    The API is for programs: its messages follow Accept-Language (Chinese without one); its error
    codes are the same in every language.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/api/"):
            request.META.pop("HTTP_ACCEPT_LANGUAGE", None)
        return self.get_response(request)
