"""Anonymous surveys on the web: the public form, its pages, the team's survey page and the API."""
