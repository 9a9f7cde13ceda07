"""New tripwire kinds (issue 10): accuracy drop against the window before, volume drop and
predicted-label mix PSI. Only the choices change."""

from django.db import migrations, models

KIND_CHOICES = [
    (
        "override_rate_rise",
        "Override rate up by at least N points against the window before",
    ),
    ("feature_psi", "PSI above N on any input feature"),
    ("confidence_psi", "PSI above N on the confidence distribution"),
    ("queue_age", "Oldest waiting case older than the SLA"),
    ("accuracy_drop", "Live accuracy below N"),
    (
        "accuracy_drop_from_baseline",
        "Live accuracy down by at least N against the window before",
    ),
    ("volume_drop", "Hourly volume below N x the trailing hourly rate, or silent"),
    ("label_mix_psi", "PSI above N on the predicted-label mix"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("reviewapp", "0011_guidelines"),
    ]

    operations = [
        migrations.AlterField(
            model_name="alert",
            name="kind",
            field=models.CharField(choices=KIND_CHOICES, max_length=32),
        ),
        migrations.AlterField(
            model_name="tripwire",
            name="kind",
            field=models.CharField(choices=KIND_CHOICES, max_length=32),
        ),
    ]
