"""The Census Bureau's geocoder (geocoding.geo.census.gov): the batch endpoint, and a stand-in."""
