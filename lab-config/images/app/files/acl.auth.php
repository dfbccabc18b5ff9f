# acl.auth.php
# <?php exit()?>
# patchlab app role: anyone reads, logged-in users edit and upload.
*               @ALL          1
*               @user         8
