"""The routes, through Flask's test client."""

from flaskapp.server import create_app


def test_hello() -> None:
    response = create_app().test_client().get("/hello")
    assert response.status_code == 200
    assert response.get_json()["message"] == "hello"


def test_color_converter_loaded_by_name() -> None:
    response = create_app().test_client().get("/color?to=hls&r=255&g=0&b=0")
    assert response.status_code == 200
    assert response.get_json() == [0.0, 0.5, 1.0]
