from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reviewapp", "0008_case_skip_decision_undo"),
    ]

    operations = [
        migrations.CreateModel(
            name="JobRun",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=200, unique=True)),
                ("last_started_at", models.DateTimeField(blank=True, null=True)),
                ("last_finished_at", models.DateTimeField(blank=True, null=True)),
                ("last_duration_ms", models.PositiveIntegerField(default=0)),
                ("last_ok", models.BooleanField(default=True)),
                ("last_error", models.CharField(blank=True, max_length=500)),
                ("last_success_at", models.DateTimeField(blank=True, null=True)),
                ("runs", models.PositiveBigIntegerField(default=0)),
                ("failures", models.PositiveBigIntegerField(default=0)),
            ],
        ),
    ]
