CREATE TABLE "payment_daily_stats" (
	"day" date PRIMARY KEY NOT NULL,
	"stats" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
