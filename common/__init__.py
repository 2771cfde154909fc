"""What every component needs: database engines and migrations, errors, audit, keys."""
