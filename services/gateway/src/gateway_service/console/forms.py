"""The console's forms. The rules live in content: its 422 answers are shown per field.

Plain WTForms without its CSRF: the access token's double-submit value guards each post.
"""

from __future__ import annotations

from wtforms import DecimalField, Form, StringField, TextAreaField
from wtforms.validators import InputRequired, NumberRange


class PostForm(Form):
    title = StringField("Title", validators=[InputRequired()])
    content = TextAreaField("Text", validators=[InputRequired()])


class ItemForm(Form):
    name = StringField("Name", validators=[InputRequired()])
    description = TextAreaField("Description")
    price = DecimalField("Price", places=2, validators=[InputRequired(), NumberRange(min=0)])


class ProfileForm(Form):
    display_name = StringField("Display name")
    bio = TextAreaField("About you")
