# syntax=docker/dockerfile:1
# corpus-expect: SP101 SP100
FROM nginx:1.27-alpine
COPY <<'EOF' /etc/nginx/conf.d/default.conf
server {
    listen 8080;
    location / {
        root /usr/share/nginx/html;
        try_files $uri $uri/ /index.html;
    }
}
EOF
COPY --link dist/ /usr/share/nginx/html/
